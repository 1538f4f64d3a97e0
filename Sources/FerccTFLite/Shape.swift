import FerccIR

/// RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION, PAD, PADV2, SPLIT, SPLIT_V, SLICE,
/// STRIDED_SLICE, GATHER (constant indices), PACK and UNPACK.
let shapeImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "RESHAPE": (
        { ctx in
            let x = try ctx.value(0)
            let xt = ctx.type(x)
            var spec: [Int]
            if ctx.inputIndex(1) != nil, ctx.isConstant(1) {
                spec = try ctx.ints(1)
            } else if let s = ctx.options.newShape {
                spec = s
            } else {
                spec = try ctx.type(of: ctx.op.outputs[0]).shape
            }
            if let i = spec.firstIndex(of: -1) {
                let known = spec.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
                guard known > 0, xt.count % known == 0 else {
                    throw FerccError("RESHAPE of \(xt.shape) to \(spec) does not divide")
                }
                spec[i] = xt.count / known
            }
            try ctx.emit(.reshape(shape: spec), inputs: [x], output: ctx.op.outputs[0])
        }, 2
    ),
    "SQUEEZE": (
        { ctx in
            let x = try ctx.value(0)
            let shape = ctx.type(x).shape
            let dims = try Set(ctx.options.squeezeDims.map { try axis($0, shape.count) })
            let out = shape.enumerated().filter { dims.isEmpty ? $0.element != 1 : !dims.contains($0.offset) }.map(
                \.element)
            try ctx.emit(.reshape(shape: out), inputs: [x], output: ctx.op.outputs[0])
        }, 2
    ),
    "EXPAND_DIMS": (
        { ctx in
            let x = try ctx.value(0)
            var shape = ctx.type(x).shape
            guard let a = try ctx.ints(1).first else { throw FerccError("EXPAND_DIMS has no axis") }
            shape.insert(1, at: try axis(a, shape.count + 1))
            try ctx.emit(.reshape(shape: shape), inputs: [x], output: ctx.op.outputs[0])
        }, 2
    ),
    "TRANSPOSE": (
        { ctx in
            let x = try ctx.value(0)
            try ctx.emit(.transpose(perm: try ctx.ints(1)), inputs: [x], output: ctx.op.outputs[0])
        }, 6
    ),
    "CONCATENATION": (
        { ctx in
            let inputs = try ctx.variadicInputs()
            let rank = ctx.type(inputs[0]).rank
            let act = try ctx.fusedActivation()
            let a = try axis(ctx.options.axis, rank)
            if act == .identity {
                try ctx.emit(.concat(axis: a), inputs: inputs, output: ctx.op.outputs[0])
            } else {
                let out = ctx.op.outputs[0]
                guard ctx.type(inputs[0]).dtype == .float32 else {
                    throw FerccError("a fused activation on a quantized CONCATENATION is not supported")
                }
                let mid = try ctx.emitIntermediate(.concat(axis: a), inputs: inputs, base: "\(ctx.name(out))#concat")
                let r = act.range!
                try ctx.emit(
                    .unary(act == .relu ? .relu : .clip(min: r.lowerBound, max: r.upperBound)), inputs: [mid],
                    output: out)
            }
        }, 4
    ),
    "PAD": ({ ctx in try pad(ctx, v2: false) }, 4),
    "PADV2": ({ ctx in try pad(ctx, v2: true) }, 4),
    "SPLIT": (
        { ctx in
            // inputs: axis, value
            let x = try ctx.value(1)
            let shape = ctx.type(x).shape
            guard let a0 = try ctx.ints(0).first else { throw FerccError("SPLIT has no axis") }
            let a = try axis(a0, shape.count)
            let n = ctx.op.outputs.count
            guard n > 0, shape[a] % n == 0 else { throw FerccError("SPLIT of \(shape[a]) into \(n) equal parts") }
            try ctx.emit(
                .split(axis: a, sizes: [Int](repeating: shape[a] / n, count: n)), inputs: [x], outputs: ctx.op.outputs)
        }, 4
    ),
    "SPLIT_V": (
        { ctx in
            // inputs: value, size_splits, axis
            let x = try ctx.value(0)
            let shape = ctx.type(x).shape
            guard let a0 = try ctx.ints(2).first else { throw FerccError("SPLIT_V has no axis") }
            let a = try axis(a0, shape.count)
            var sizes = try ctx.ints(1)
            if let i = sizes.firstIndex(of: -1) {
                sizes[i] = shape[a] - sizes.enumerated().filter { $0.offset != i }.reduce(0) { $0 + $1.element }
            }
            try ctx.emit(.split(axis: a, sizes: sizes), inputs: [x], outputs: ctx.op.outputs)
        }, 2
    ),
    "SLICE": (
        { ctx in
            let x = try ctx.value(0)
            let shape = ctx.type(x).shape
            let begin = try ctx.ints(1), size = try ctx.ints(2)
            guard begin.count == shape.count, size.count == shape.count else {
                throw FerccError("SLICE begin and size must cover all axes")
            }
            let sizes = (0..<shape.count).map { size[$0] == -1 ? shape[$0] - begin[$0] : size[$0] }
            try ctx.emit(
                .slice(Slice(starts: begin, steps: [Int](repeating: 1, count: shape.count), sizes: sizes)), inputs: [x],
                output: ctx.op.outputs[0])
        }, 6
    ),
    "STRIDED_SLICE": ({ ctx in try stridedSlice(ctx) }, 8),
    "GATHER": (
        { ctx in
            let x = try ctx.value(0)
            let shape = ctx.type(x).shape
            guard ctx.options.batchDims == 0 else { throw FerccError("GATHER with batch_dims is not supported") }
            let a = try axis(ctx.options.axis, shape.count)
            let idx = try ctx.ints(1).map { $0 < 0 ? $0 + shape[a] : $0 }
            guard !idx.isEmpty, idx.allSatisfy({ $0 >= 0 && $0 < shape[a] }) else {
                throw FerccError("GATHER indices out of range")
            }
            let step = idx.count > 1 ? idx[1] - idx[0] : 1
            guard step != 0, idx.enumerated().allSatisfy({ $0.element == idx[0] + $0.offset * step }) else {
                throw FerccError("GATHER with indices that are not evenly spaced is not supported")
            }
            var starts = [Int](repeating: 0, count: shape.count), steps = [Int](repeating: 1, count: shape.count),
                sizes = shape
            starts[a] = idx[0]; steps[a] = step; sizes[a] = idx.count
            let out = ctx.op.outputs[0]
            let declared = try ctx.type(of: out).shape
            if declared == sizes {
                try ctx.emit(.slice(Slice(starts: starts, steps: steps, sizes: sizes)), inputs: [x], output: out)
            } else {
                let mid = try ctx.emitIntermediate(
                    .slice(Slice(starts: starts, steps: steps, sizes: sizes)), inputs: [x],
                    base: "\(ctx.name(out))#slice",
                    quantization: ctx.type(x).quantization)
                try ctx.emit(.reshape(shape: declared), inputs: [mid], output: out)
            }
        }, 7
    ),
    "PACK": (
        { ctx in
            let inputs = try ctx.variadicInputs()
            var shape = ctx.type(inputs[0]).shape
            let a = try axis(ctx.options.axis, shape.count + 1)
            shape.insert(1, at: a)
            let expanded = try inputs.map {
                try ctx.emitIntermediate(
                    .reshape(shape: shape), inputs: [$0], base: "\($0)#expanded",
                    quantization: ctx.type($0).quantization)
            }
            try ctx.emit(.concat(axis: a), inputs: expanded, output: ctx.op.outputs[0])
        }, 4
    ),
    "UNPACK": (
        { ctx in
            let x = try ctx.value(0)
            let shape = ctx.type(x).shape
            let a = try axis(ctx.options.axis, shape.count)
            let n = shape[a]
            guard ctx.op.outputs.count == n else {
                throw FerccError("UNPACK of \(n) slices into \(ctx.op.outputs.count) outputs")
            }
            var part = shape
            part[a] = 1
            let parts = (0..<n).map { ctx.fresh("\(x)#unpack\($0)") }
            try ctx.graph.addNode(
                Node(
                    name: parts[0], op: .split(axis: a, sizes: [Int](repeating: 1, count: n)), inputs: [x],
                    outputs: parts),
                quantization: [Quantization?](repeating: ctx.type(x).quantization, count: n))
            var squeezed = shape
            squeezed.remove(at: a)
            for (p, out) in zip(parts, ctx.op.outputs) {
                try ctx.emit(.reshape(shape: squeezed), inputs: [p], output: out)
            }
        }, 4
    )
]

func axis(_ a: Int, _ rank: Int) throws -> Int {
    let n = a < 0 ? a + rank : a
    guard n >= 0, n < rank else { throw FerccError("axis \(a) out of range for rank \(rank)") }
    return n
}

func pad(_ ctx: TFLiteImportContext, v2: Bool) throws {
    let x = try ctx.value(0)
    let rank = ctx.type(x).rank
    let p = try ctx.ints(1)
    guard p.count == 2 * rank else { throw FerccError("paddings must be [\(rank), 2], got \(p.count) values") }
    let pads = (0..<rank).map { p[2 * $0] } + (0..<rank).map { p[2 * $0 + 1] }
    guard pads.allSatisfy({ $0 >= 0 }) else { throw FerccError("negative paddings") }
    var value: Float = 0
    if v2, ctx.inputIndex(2) != nil {
        let cname = try ctx.value(2)
        let cv = ctx.graph.values[cname]!
        guard let c = cv.constant, c.count == 1 else {
            throw FerccError("PADV2 constant value must be a constant scalar")
        }
        // Quantized constants are dequantized: the pad op quantizes its real value again.
        if let q = cv.type.quantization {
            value = q.scale * (c.floats[0] - Float(q.zeroPoint))
        } else {
            value = c.floats[0]
        }
    }
    try ctx.emit(.pad(pads: pads, value: value), inputs: [x], output: ctx.op.outputs[0])
}

/// STRIDED_SLICE with begin/end masks, shrink_axis_mask and the offset option (ellipsis and
/// new-axis masks are not supported).
func stridedSlice(_ ctx: TFLiteImportContext) throws {
    let x = try ctx.value(0)
    let shape = ctx.type(x).shape
    let o = ctx.options
    guard o.ellipsisMask == 0, o.newAxisMask == 0 else {
        throw FerccError("STRIDED_SLICE ellipsis and new-axis masks are not supported")
    }
    let begin = try ctx.ints(1), end = try ctx.ints(2)
    let strides = ctx.inputIndex(3) != nil ? try ctx.ints(3) : [Int](repeating: 1, count: begin.count)
    guard begin.count == end.count, strides.count == begin.count, begin.count <= shape.count else {
        throw FerccError("STRIDED_SLICE begin, end and strides must have the same length, at most the rank")
    }
    var s = Slice(
        starts: [Int](repeating: 0, count: shape.count), steps: [Int](repeating: 1, count: shape.count), sizes: shape)
    var outShape: [Int] = []
    for a in 0..<shape.count {
        guard a < begin.count else { outShape.append(shape[a]); continue }
        let dim = shape[a], st = strides[a]
        guard st != 0 else { throw FerccError("STRIDED_SLICE stride 0 on axis \(a)") }
        let bit = 1 << a
        var b = begin[a], e = o.offset ? begin[a] + end[a] : end[a]
        if o.shrinkAxisMask & bit != 0 {
            if b < 0 { b += dim }
            guard b >= 0, b < dim else { throw FerccError("STRIDED_SLICE index \(begin[a]) out of range on axis \(a)") }
            s.starts[a] = b; s.steps[a] = 1; s.sizes[a] = 1
            continue
        }
        if o.beginMask & bit != 0 {
            b = st > 0 ? 0 : dim - 1
        } else {
            if b < 0 { b += dim }
            b = st > 0 ? min(max(b, 0), dim) : min(max(b, -1), dim - 1)
        }
        if o.endMask & bit != 0 {
            e = st > 0 ? dim : -1
        } else {
            if e < 0 { e += dim }
            e = st > 0 ? min(max(e, 0), dim) : min(max(e, -1), dim - 1)
        }
        let size = st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e - st - 1) / -st : 0)
        s.starts[a] = size > 0 ? b : 0; s.steps[a] = st; s.sizes[a] = size
        outShape.append(size)
    }
    let out = ctx.op.outputs[0]
    if outShape == s.sizes {
        try ctx.emit(.slice(s), inputs: [x], output: out)
    } else {
        let mid = try ctx.emitIntermediate(
            .slice(s), inputs: [x], base: "\(ctx.name(out))#slice", quantization: ctx.type(x).quantization)
        try ctx.emit(.reshape(shape: outShape), inputs: [mid], output: out)
    }
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let shapeNotes: [String: (int8: String, note: String)] = [
    "CONCATENATION": (int8: "yes", note: "same input/output quantization"),
    "EXPAND_DIMS": (int8: "yes", note: ""),
    "GATHER": (int8: "yes", note: "constant, evenly spaced indices"),
    "PACK": (int8: "yes", note: ""),
    "PAD": (int8: "yes", note: "pads with the zero point"),
    "PADV2": (int8: "yes", note: "constant value"),
    "RESHAPE": (int8: "yes", note: "shape from input, options or the output tensor; -1"),
    "SLICE": (int8: "yes", note: "size -1"),
    "SPLIT": (int8: "yes", note: ""),
    "SPLIT_V": (int8: "yes", note: "one size may be -1"),
    "SQUEEZE": (int8: "yes", note: ""),
    "STRIDED_SLICE": (int8: "yes", note: "begin/end/shrink masks, negative strides, offset; no ellipsis/new-axis"),
    "TRANSPOSE": (int8: "yes", note: "any rank (onnx2tf's 5-D channel shuffle)"),
    "UNPACK": (int8: "yes", note: "")
]
