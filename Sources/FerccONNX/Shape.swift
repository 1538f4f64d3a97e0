import FerccIR

/// Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Pad, Gather, Identity,
/// Dropout and Constant. The attribute-vs-input forms that changed across opsets are read here.
let shapeImporters: [String: ONNXImporter.OpImporter] = [
    "Expand": importExpand,
    "Reshape": importReshapeLike, "Flatten": importReshapeLike,
    "Squeeze": importReshapeLike, "Unsqueeze": importReshapeLike,
    "Transpose": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let rank = try ctx.type(x).rank
        let perm = try node.ints("perm") ?? Array((0..<rank).reversed())
        try ctx.emit(.transpose(perm: perm), inputs: [x], outputs: [node.outputs[0]])
    },
    "Concat": { node, ctx in
        let inputs = try node.inputs.filter { !$0.isEmpty }.map { try ctx.value($0) }
        guard let first = inputs.first else { throw FerccError("Concat has no inputs") }
        let rank = try ctx.type(first).rank
        let axis = try ShapeImport.normalizeAxis(try node.int("axis", 0), rank: rank)
        try ctx.emit(.concat(axis: axis), inputs: inputs, outputs: [node.outputs[0]])
    },
    "Split": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let shape = try ctx.type(x).shape
        let axis = try ShapeImport.normalizeAxis(try node.int("axis", 0), rank: shape.count)
        let outputs = node.outputs
        var sizes: [Int]
        if ctx.opset >= 13, let s = node.input(1) {
            guard let v = ctx.constant(s)?.int64s else { throw FerccError("Split sizes must be constant") }
            sizes = v.map { Int($0) }
        } else if ctx.opset < 13, let s = try node.ints("split") {
            sizes = s
        } else {
            let parts = ctx.opset >= 18 ? try node.int("num_outputs", outputs.count) : outputs.count
            guard parts > 0, parts == outputs.count else {
                throw FerccError("Split into \(parts) parts for \(outputs.count) outputs")
            }
            let chunk = (shape[axis] + parts - 1) / parts
            sizes = (0..<parts).map { min(chunk, max(shape[axis] - $0 * chunk, 0)) }
        }
        guard sizes.count == outputs.count else {
            throw FerccError("Split gives \(sizes.count) parts for \(outputs.count) outputs")
        }
        let names = outputs.map { $0.isEmpty ? ctx.fresh("\(node.displayName)#unused") : $0 }
        try ctx.emit(.split(axis: axis, sizes: sizes), inputs: [x], outputs: names)
    },
    "Slice": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let shape = try ctx.type(x).shape
        let constants = try (0..<node.inputs.count).map { i -> TensorData in
            guard let name = node.input(i) else { return .int64([]) }
            if i == 0 { return .int64([]) }
            guard let c = ctx.constant(name) else {
                throw FerccError("Slice parameters must be constant (input \(i) is computed)")
            }
            return c
        }
        let s = try ShapeImport.sliceParameters(node, ctx, inputShape: shape, constants: constants)
        try ctx.emit(.slice(s), inputs: [x], outputs: [node.outputs[0]])
    },
    "Pad": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let rank = try ctx.type(x).rank
        let mode = try node.string("mode", "constant")
        guard mode == "constant" else { throw FerccError("Pad mode '\(mode)' is not supported (constant only)") }
        var pads: [Int]
        var value: Float = 0
        if ctx.opset >= 11 {
            guard let p = node.input(1).flatMap({ ctx.constant($0)?.int64s }) else {
                throw FerccError("Pad pads must be a constant input")
            }
            pads = p.map { Int($0) }
            if let v = node.input(2) {
                guard let c = ctx.constant(v) else { throw FerccError("Pad constant_value must be constant") }
                value = c.floats.first ?? 0
            }
            if let a = node.input(3) {
                guard let axes = ctx.constant(a)?.int64s else { throw FerccError("Pad axes must be constant") }
                guard pads.count == 2 * axes.count else {
                    throw FerccError("Pad: \(pads.count) pads for \(axes.count) axes")
                }
                var full = [Int](repeating: 0, count: 2 * rank)
                for (i, ax) in axes.enumerated() {
                    let axis = try ShapeImport.normalizeAxis(Int(ax), rank: rank)
                    full[axis] = pads[i]
                    full[axis + rank] = pads[i + axes.count]
                }
                pads = full
            }
        } else {
            guard let p = try node.ints("pads") else { throw FerccError("Pad has no pads") }
            pads = p
            value = try node.float("value", 0)
        }
        try ctx.emit(.pad(pads: pads, value: value), inputs: [x], outputs: [node.outputs[0]])
    },
    "Gather": { node, ctx in
        // Gather on activations with constant indices: a slice (scalar index: plus a reshape).
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let shape = try ctx.type(x).shape
        guard let idxName = node.input(1), let idx = ctx.constant(idxName)?.int64s else {
            throw FerccError("Gather needs constant indices")
        }
        let idxShape = try ctx.type(idxName).shape
        let axis = try ShapeImport.normalizeAxis(try node.int("axis", 0), rank: shape.count)
        let dim = shape[axis]
        let indices = try idx.map { i -> Int in
            let j = i < 0 ? Int(i) + dim : Int(i)
            guard j >= 0, j < dim else { throw FerccError("Gather index \(i) out of range for axis of size \(dim)") }
            return j
        }
        let step = indices.count > 1 ? indices[1] - indices[0] : 1
        guard !indices.isEmpty, step != 0,
            indices.enumerated().allSatisfy({ $0.element == indices[0] + $0.offset * step })
        else {
            throw FerccError("Gather with indices that are not evenly spaced is not supported")
        }
        var starts = [Int](repeating: 0, count: shape.count), steps = [Int](repeating: 1, count: shape.count),
            sizes = shape
        starts[axis] = indices[0]; steps[axis] = step; sizes[axis] = indices.count
        let outShape = Array(shape[..<axis]) + idxShape + Array(shape[(axis + 1)...])
        if outShape == sizes {
            try ctx.emit(
                .slice(Slice(starts: starts, steps: steps, sizes: sizes)), inputs: [x], outputs: [node.outputs[0]])
        } else {
            let mid = ctx.fresh("\(node.outputs[0])#slice")
            try ctx.emit(.slice(Slice(starts: starts, steps: steps, sizes: sizes)), inputs: [x], outputs: [mid])
            try ctx.emit(.reshape(shape: outShape), inputs: [mid], outputs: [node.outputs[0]])
        }
    },
    "Identity": { node, ctx in ctx.alias(node.outputs[0], to: try ctx.value(try ShapeFolding.requireInput(node, 0))) },
    "Dropout": { node, ctx in
        // Inference: Dropout forwards its input. A mask output cannot be honoured.
        if node.outputs.count > 1, !node.outputs[1].isEmpty {
            throw FerccError("Dropout's mask output is not supported")
        }
        ctx.alias(node.outputs[0], to: try ctx.value(try ShapeFolding.requireInput(node, 0)))
    },
    "Constant": { _, _ in }
]

func importReshapeLike(_ node: ONNXNode, _ ctx: ONNXImportContext) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let shape = try ctx.type(x).shape
    let constants = try (0..<node.inputs.count).map { i -> TensorData in
        guard i > 0, let name = node.input(i) else { return .int64([]) }
        guard let c = ctx.constant(name) else {
            throw FerccError("\(node.opType)'s input \(i) must be constant (fercc needs static shapes)")
        }
        return c
    }
    let target = try ShapeImport.reshapeTarget(node, ctx, inputShape: shape, constants: constants)
    try ctx.emit(.reshape(shape: target), inputs: [x], outputs: [node.outputs[0]])
}

enum ShapeImport {
    static func normalizeAxis(_ axis: Int, rank: Int) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else { throw FerccError("axis \(axis) out of range for rank \(rank)") }
        return a
    }

    /// Axes from the attribute (older opsets) or the second input (newer ones).
    static func axes(_ node: ONNXNode, _ ctx: ONNXImportContext, inputFrom opset: Int, constants: [TensorData]) throws
        -> [Int]?
    {
        if ctx.opset >= opset {
            guard node.input(1) != nil else { return nil }
            guard constants.count > 1, let v = constants[1].int64s else {
                throw FerccError("\(node.opType) axes must be constant")
            }
            return v.map { Int($0) }
        }
        return try node.ints("axes")
    }

    /// The output shape of Reshape, Flatten, Squeeze and Unsqueeze.
    static func reshapeTarget(_ node: ONNXNode, _ ctx: ONNXImportContext, inputShape: [Int], constants: [TensorData])
        throws -> [Int]
    {
        let rank = inputShape.count
        let count = inputShape.reduce(1, *)
        switch node.opType {
        case "Flatten":
            var axis = try node.int("axis", 1)
            if axis < 0 { axis += rank }
            guard axis >= 0, axis <= rank else { throw FerccError("Flatten axis out of range for rank \(rank)") }
            return [inputShape[..<axis].reduce(1, *), inputShape[axis...].reduce(1, *)]
        case "Squeeze":
            if let axes = try axes(node, ctx, inputFrom: 13, constants: constants) {
                let normalized = try Set(axes.map { try normalizeAxis($0, rank: rank) })
                for a in normalized where inputShape[a] != 1 {
                    throw FerccError("Squeeze of axis \(a) whose size is \(inputShape[a]), not 1")
                }
                return inputShape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
            }
            return inputShape.filter { $0 != 1 }
        case "Unsqueeze":
            guard let axes = try axes(node, ctx, inputFrom: 13, constants: constants) else {
                throw FerccError("Unsqueeze has no axes")
            }
            let outRank = rank + axes.count
            let normalized = try axes.map { try normalizeAxis($0, rank: outRank) }
            guard Set(normalized).count == normalized.count else { throw FerccError("Unsqueeze axes repeat") }
            var out: [Int] = []
            var it = inputShape.makeIterator()
            for a in 0..<outRank { out.append(normalized.contains(a) ? 1 : it.next()!) }
            return out
        default:  // Reshape
            guard constants.count > 1, let spec = constants[1].int64s else {
                throw FerccError("Reshape needs a constant shape")
            }
            let allowZero = try node.int("allowzero", 0) != 0
            var out: [Int] = []
            var inferAt: Int?
            for (i, d) in spec.enumerated() {
                if d == -1 {
                    guard inferAt == nil else { throw FerccError("Reshape shape \(spec) has more than one -1") }
                    inferAt = i
                    out.append(1)
                } else if d == 0 && !allowZero {
                    guard i < rank else {
                        throw FerccError("Reshape shape \(spec) copies axis \(i) the input does not have")
                    }
                    out.append(inputShape[i])
                } else if d >= 0 {
                    out.append(Int(d))
                } else {
                    throw FerccError("Reshape shape \(spec) has a negative size")
                }
            }
            if let i = inferAt {
                guard let known = checkedProduct(out), known > 0, count % known == 0 else {
                    throw FerccError("Reshape of \(inputShape) to \(spec) does not divide")
                }
                out[i] = count / known
            }
            guard checkedProduct(out) == count else {
                throw FerccError("Reshape of \(inputShape) to \(spec): element counts differ")
            }
            return out
        }
    }

    /// Normalized slice over all axes, from inputs (opset >= 10) or attributes (older), with the
    /// clamping rules of the ONNX specification.
    static func sliceParameters(_ node: ONNXNode, _ ctx: ONNXImportContext, inputShape: [Int], constants: [TensorData])
        throws -> Slice
    {
        let rank = inputShape.count
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if ctx.opset >= 10 {
            func param(_ i: Int) throws -> [Int]? {
                guard node.input(i) != nil else { return nil }
                guard i < constants.count, let v = constants[i].int64s else {
                    throw FerccError("Slice input \(i) must be constant integers")
                }
                return v.map { Int(clamping: $0) }
            }
            guard let s = try param(1), let e = try param(2) else { throw FerccError("Slice needs starts and ends") }
            starts = s; ends = e; axes = try param(3); steps = try param(4)
        } else {
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else {
                throw FerccError("Slice needs starts and ends")
            }
            starts = s; ends = e; axes = try node.ints("axes")
        }
        let ax = try (axes ?? Array(0..<starts.count)).map { try normalizeAxis($0, rank: rank) }
        let st = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, ax.count == starts.count, st.count == starts.count else {
            throw FerccError("Slice starts, ends, axes and steps differ in length")
        }
        guard Set(ax).count == ax.count else { throw FerccError("Slice axes repeat") }
        var result = Slice(
            starts: [Int](repeating: 0, count: rank), steps: [Int](repeating: 1, count: rank), sizes: inputShape)
        for (i, a) in ax.enumerated() {
            let dim = inputShape[a], step = st[i]
            guard step != 0 else { throw FerccError("Slice step is 0") }
            var s = starts[i], e = ends[i]
            if s < 0 { s += dim }
            if e < 0 { e += dim }
            let size: Int
            if step > 0 {
                s = min(max(s, 0), dim); e = min(max(e, 0), dim)
                size = e > s ? (e - s + step - 1) / step : 0
            } else {
                s = min(max(s, -1), dim - 1); e = min(max(e, -1), dim - 1)
                size = s > e ? (s - e + (-step) - 1) / (-step) : 0
            }
            result.starts[a] = size > 0 ? s : 0
            result.steps[a] = step
            result.sizes[a] = size
        }
        return result
    }
}

/// Expand: numpy broadcasting of the input to a constant shape (both ways: an axis of 1 in the
/// shape keeps the input's length). A strided view that reads a broadcast axis with step 0, after
/// a reshape that adds the leading axes of a longer shape.
func importExpand(_ node: ONNXNode, _ ctx: ONNXImportContext) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let xs = try ctx.type(x).shape
    guard let name = node.input(1), let target = ctx.constant(name)?.int64s else {
        throw FerccError("Expand needs a constant shape (computed at import from static shapes)")
    }
    guard target.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
        throw FerccError("Expand shape \(target) has a negative or huge dimension")
    }
    let rank = max(xs.count, target.count)
    let from = [Int](repeating: 1, count: rank - xs.count) + xs
    let to = [Int](repeating: 1, count: rank - target.count) + target.map { Int($0) }
    var out: [Int] = []
    for (a, b) in zip(from, to) {
        guard a == b || a == 1 || b == 1 else {
            throw FerccError("Expand shape \(target) does not broadcast with the input's \(xs)")
        }
        out.append(a == 1 ? b : a)
    }
    var v = x
    if from != xs {
        v = ctx.fresh("\(node.outputs[0])#ranked")
        try ctx.emit(.reshape(shape: from), inputs: [x], outputs: [v])
    }
    if out == from {
        try ctx.emit(.reshape(shape: out), inputs: [v], outputs: [node.outputs[0]])
        return
    }
    let slice = Slice(
        starts: [Int](repeating: 0, count: rank), steps: zip(from, out).map { $0 == $1 ? 1 : 0 }, sizes: out)
    try ctx.emit(.slice(slice), inputs: [v], outputs: [node.outputs[0]])
}

/// Notes for the supported-op table (docs/ops.md).
let shapeNotes: [String: String] = [
    "Constant": "value, value_float(s), value_int(s)",
    "Dropout": "inference (forwards its input)",
    "Expand": "constant shape; numpy broadcasting both ways (a strided view, no copy of the input first)",
    "Flatten": "any axis",
    "Gather": "constant indices; on computed tensors, evenly spaced indices",
    "Pad": "constant mode; pads as attribute (< 11) or constant input, axes (>= 18)",
    "Reshape": "constant shape; 0 and -1; allowzero",
    "Slice": "starts/ends/axes as attributes (< 10) or constant inputs with steps (>= 10)",
    "Split": "split as attribute (< 13), constant input (>= 13), num_outputs (>= 18), or equal parts",
    "Squeeze": "axes as attribute (< 13) or constant input (>= 13)",
    "Unsqueeze": "axes as attribute (< 13) or constant input (>= 13)"
]
