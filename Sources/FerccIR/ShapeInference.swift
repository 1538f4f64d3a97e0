/// Static shape inference for every IR op: checks that the inputs fit the op and returns the
/// output types. Errors name the reason; the caller adds the node.
public enum ShapeInference {
    public static func infer(_ op: Op, inputs: [TensorType], constants: [TensorData?] = []) throws -> [TensorType] {
        func need(_ range: ClosedRange<Int>) throws {
            guard range.contains(inputs.count) else {
                let count =
                    range.lowerBound == range.upperBound
                    ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
                throw FerccError("\(op.name) takes \(count) inputs, got \(inputs.count)")
            }
        }
        switch op {
        case .conv2D(let c):
            try need(2...3)
            let x = inputs[0].shape, w = inputs[1].shape
            guard x.count == 4 else { throw FerccError("Conv2D input must be 4-D NHWC, got \(inputs[0])") }
            guard w.count == 4 else { throw FerccError("Conv2D weights must be 4-D OHWI, got \(inputs[1])") }
            guard c.groups >= 1, x[3] % c.groups == 0, w[0] % c.groups == 0 else {
                throw FerccError(
                    "Conv2D: \(x[3]) input and \(w[0]) output channels do not divide into \(c.groups) groups")
            }
            guard w[3] * c.groups == x[3] else {
                throw FerccError("Conv2D: weights expect \(w[3] * c.groups) input channels, input has \(x[3])")
            }
            guard w[1] == c.kernelH, w[2] == c.kernelW else {
                throw FerccError("Conv2D: kernel \(c.kernelH)x\(c.kernelW) does not match weights \(inputs[1])")
            }
            if inputs.count == 3, inputs[2].shape != [w[0]] {
                throw FerccError("Conv2D: bias must be [\(w[0])], got \(inputs[2])")
            }
            try positive(
                [c.strideH, c.strideW, c.dilationH, c.dilationW, c.kernelH, c.kernelW],
                "Conv2D kernel, strides and dilations")
            try nonNegative([c.padTop, c.padLeft, c.padBottom, c.padRight], "Conv2D pads")
            guard windowIsSane(c.padTop, c.padLeft, c.padBottom, c.padRight) else {
                throw FerccError("Conv2D pads \([c.padTop, c.padLeft, c.padBottom, c.padRight]) are not valid")
            }
            let oh = try windowCount(x[1], c.kernelH, c.strideH, c.dilationH, c.padTop + c.padBottom, ceil: false)
            let ow = try windowCount(x[2], c.kernelW, c.strideW, c.dilationW, c.padLeft + c.padRight, ceil: false)
            return [TensorType(inputs[0].dtype, [x[0], oh, ow, w[0]])]

        case .maxPool2D(let p), .averagePool2D(let p, _):
            try need(1...1)
            let x = inputs[0].shape
            guard x.count == 4 else { throw FerccError("\(op.name) input must be 4-D NHWC, got \(inputs[0])") }
            try positive(
                [p.strideH, p.strideW, p.dilationH, p.dilationW, p.kernelH, p.kernelW],
                "\(op.name) kernel, strides and dilations")
            try nonNegative([p.padTop, p.padLeft, p.padBottom, p.padRight], "\(op.name) pads")
            guard
                windowIsSane(p.kernelH, p.kernelW, p.strideH, p.strideW, p.padTop, p.padLeft, p.padBottom, p.padRight),
                windowIsSane(p.dilationH, p.dilationW), p.kernelH <= (1 << 40) / p.dilationH,
                p.kernelW <= (1 << 40) / p.dilationW
            else {
                throw FerccError("\(op.name): kernel, strides, dilations or pads are not valid")
            }
            guard p.padTop < (p.kernelH - 1) * p.dilationH + 1, p.padBottom < (p.kernelH - 1) * p.dilationH + 1,
                p.padLeft < (p.kernelW - 1) * p.dilationW + 1, p.padRight < (p.kernelW - 1) * p.dilationW + 1
            else {
                throw FerccError("\(op.name): pads must be smaller than the kernel")
            }
            let oh = poolCount(x[1], p.kernelH, p.strideH, p.dilationH, p.padTop, p.padBottom, ceil: p.ceilMode)
            let ow = poolCount(x[2], p.kernelW, p.strideW, p.dilationW, p.padLeft, p.padRight, ceil: p.ceilMode)
            guard oh > 0, ow > 0 else {
                throw FerccError("\(op.name): window larger than the padded input \(inputs[0])")
            }
            return [TensorType(inputs[0].dtype, [x[0], oh, ow, x[3]])]

        case .batchNorm(let axis, let epsilon):
            try need(5...5)
            let x = inputs[0].shape
            guard axis >= 0, axis < x.count else {
                throw FerccError("BatchNorm axis \(axis) out of range for \(inputs[0])")
            }
            for t in inputs[1...] where t.shape != [x[axis]] {
                throw FerccError("BatchNorm parameters must be [\(x[axis])], got \(t)")
            }
            guard epsilon >= 0, epsilon.isFinite else { throw FerccError("BatchNorm epsilon must be >= 0") }
            return [inputs[0]]

        case .gemm(let g):
            try need(2...3)
            let a = inputs[0].shape, b = inputs[1].shape
            guard a.count == 2, b.count == 2 else {
                throw FerccError("Gemm takes 2-D inputs, got \(inputs[0]) and \(inputs[1])")
            }
            let (m, k) = g.transA ? (a[1], a[0]) : (a[0], a[1])
            let (k2, n) = g.transB ? (b[1], b[0]) : (b[0], b[1])
            guard k == k2 else { throw FerccError("Gemm: inner dimensions \(k) and \(k2) differ") }
            if inputs.count == 3 {
                guard let out = broadcastShapes(inputs[2].shape, [m, n]), out == [m, n] else {
                    throw FerccError("Gemm: C \(inputs[2]) does not broadcast to [\(m), \(n)]")
                }
            }
            return [TensorType(inputs[0].dtype, [m, n])]

        case .matMul:
            try need(2...2)
            var a = inputs[0].shape, b = inputs[1].shape
            guard !a.isEmpty, !b.isEmpty else { throw FerccError("MatMul of a scalar") }
            let aVec = a.count == 1, bVec = b.count == 1
            if aVec { a = [1] + a }
            if bVec { b = b + [1] }
            guard a[a.count - 1] == b[b.count - 2] else {
                throw FerccError("MatMul: inner dimensions of \(inputs[0]) and \(inputs[1]) differ")
            }
            guard let batch = broadcastShapes(Array(a.dropLast(2)), Array(b.dropLast(2))) else {
                throw FerccError("MatMul: batch dimensions of \(inputs[0]) and \(inputs[1]) do not broadcast")
            }
            var out = batch
            if !aVec { out.append(a[a.count - 2]) }
            if !bVec { out.append(b[b.count - 1]) }
            return [TensorType(inputs[0].dtype, out)]

        case .binary:
            try need(2...2)
            guard let out = broadcastShapes(inputs[0].shape, inputs[1].shape) else {
                throw FerccError("\(op.name): shapes \(inputs[0]) and \(inputs[1]) do not broadcast")
            }
            guard inputs[0].dtype == inputs[1].dtype else {
                throw FerccError("\(op.name) of \(inputs[0].dtype.rawValue) and \(inputs[1].dtype.rawValue)")
            }
            return [TensorType(inputs[0].dtype, out)]

        case .unary(let u):
            try need(1...1)
            if case .clip(let lo, let hi) = u, lo > hi { throw FerccError("Clip: min \(lo) > max \(hi)") }
            return [inputs[0]]

        case .prelu:
            try need(2...2)
            guard let out = broadcastShapes(inputs[0].shape, inputs[1].shape), out == inputs[0].shape else {
                throw FerccError("PRelu: slope \(inputs[1]) does not broadcast to \(inputs[0])")
            }
            return [inputs[0]]

        case .reduce(_, let axes, let keepDims):
            try need(1...1)
            let x = inputs[0].shape
            guard Set(axes).count == axes.count, axes.allSatisfy({ $0 >= 0 && $0 < x.count }) else {
                throw FerccError("\(op.name): axes \(axes) invalid for \(inputs[0])")
            }
            var out: [Int] = []
            for (i, d) in x.enumerated() {
                if axes.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
            }
            return [TensorType(inputs[0].dtype, out)]

        case .softmax(let axis, _):
            try need(1...1)
            guard axis >= 0, axis < inputs[0].rank else {
                throw FerccError("Softmax axis \(axis) out of range for \(inputs[0])")
            }
            return [inputs[0]]

        case .reshape(let shape):
            try need(1...1)
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == inputs[0].count else {
                throw FerccError("Reshape of \(inputs[0]) to \(shape): element counts differ")
            }
            return [TensorType(inputs[0].dtype, shape)]

        case .transpose(let perm):
            try need(1...1)
            guard perm.count == inputs[0].rank, Set(perm) == Set(0..<perm.count) else {
                throw FerccError("Transpose: perm \(perm) is not a permutation of \(inputs[0].rank) axes")
            }
            return [TensorType(inputs[0].dtype, perm.map { inputs[0].shape[$0] })]

        case .concat(let axis):
            guard !inputs.isEmpty else { throw FerccError("Concat needs at least one input") }
            let r = inputs[0].rank
            guard axis >= 0, axis < r else { throw FerccError("Concat axis \(axis) out of range for rank \(r)") }
            var out = inputs[0].shape
            out[axis] = 0
            for t in inputs {
                guard t.rank == r, t.dtype == inputs[0].dtype,
                    (0..<r).allSatisfy({ $0 == axis || t.shape[$0] == inputs[0].shape[$0] })
                else {
                    throw FerccError("Concat: \(t) does not match \(inputs[0]) off axis \(axis)")
                }
                let (sum, overflow) = out[axis].addingReportingOverflow(t.shape[axis])
                guard !overflow else { throw FerccError("Concat: the sizes along axis \(axis) overflow") }
                out[axis] = sum
            }
            return [TensorType(inputs[0].dtype, out)]

        case .split(let axis, let sizes):
            try need(1...1)
            let x = inputs[0].shape
            guard axis >= 0, axis < x.count else {
                throw FerccError("Split axis \(axis) out of range for \(inputs[0])")
            }
            // Summed with overflow checks: a hostile file's sizes may be near Int.max.
            var total = 0
            for size in sizes {
                let (sum, overflow) = total.addingReportingOverflow(size)
                guard size >= 0, !overflow else { throw FerccError("Split sizes \(sizes) do not add up to \(x[axis])") }
                total = sum
            }
            guard total == x[axis] else { throw FerccError("Split sizes \(sizes) do not add up to \(x[axis])") }
            return sizes.map { s in
                var o = x; o[axis] = s; return TensorType(inputs[0].dtype, o)
            }

        case .slice(let s):
            try need(1...1)
            let x = inputs[0].shape
            guard s.starts.count == x.count, s.steps.count == x.count, s.sizes.count == x.count else {
                throw FerccError("Slice parameters must cover all \(x.count) axes")
            }
            for a in 0..<x.count {
                // A step of 0 repeats one element (Expand's broadcast).
                guard s.sizes[a] >= 0 else { throw FerccError("Slice: negative size on axis \(a)") }
                if s.sizes[a] > 0 {
                    let last = s.starts[a] + (s.sizes[a] - 1) * s.steps[a]
                    guard s.starts[a] >= 0, s.starts[a] < x[a], last >= 0, last < x[a] else {
                        throw FerccError("Slice reads outside axis \(a) of \(inputs[0])")
                    }
                }
            }
            return [TensorType(inputs[0].dtype, s.sizes)]

        case .pad(let pads, let value):
            try need(1...1)
            let x = inputs[0].shape
            guard pads.count == 2 * x.count else { throw FerccError("Pad: \(pads.count) pads for rank \(x.count)") }
            guard !value.isNaN else { throw FerccError("Pad value is NaN") }
            if let absurd = pads.first(where: { $0.magnitude >= 1 << 40 }) {
                throw FerccError("Pad: padding \(absurd) is beyond any tensor size")
            }
            let out = (0..<x.count).map { x[$0] + pads[$0] + pads[$0 + x.count] }
            guard out.allSatisfy({ $0 >= 0 }) else { throw FerccError("Pad crops \(inputs[0]) below zero") }
            return [TensorType(inputs[0].dtype, out)]

        case .quantize(let dtype):
            try need(1...1)
            guard dtype.isQuantized, inputs[0].dtype == .float32 || inputs[0].dtype.isQuantized else {
                throw FerccError("Quantize from \(inputs[0].dtype.rawValue) to \(dtype.rawValue) is not supported")
            }
            return [TensorType(dtype, inputs[0].shape)]

        case .dequantize:
            try need(1...1)
            guard inputs[0].dtype.isQuantized || inputs[0].dtype == .int32 else {
                throw FerccError("Dequantize of \(inputs[0].dtype.rawValue)")
            }
            return [TensorType(.float32, inputs[0].shape)]

        case .dynamicQuantize:
            try need(1...1)
            guard inputs[0].dtype == .float32, inputs[0].rank >= 1 else {
                throw FerccError("DynamicQuantize of \(inputs[0]): needs a float32 tensor with a batch axis")
            }
            return [inputs[0]]

        case .channelShuffle(let groups, let axis):
            try need(1...1)
            guard axis >= 0, axis < inputs[0].rank, groups > 0, inputs[0].shape[axis] % groups == 0 else {
                throw FerccError("ChannelShuffle of \(inputs[0]) into \(groups) groups on axis \(axis)")
            }
            return [inputs[0]]

        case .interleave(let axis, let parts):
            try need(2...4096)
            let t = inputs[0]
            // int8 inputs may differ in quantization (the lowering rescales them to the outputs').
            guard axis >= 0, axis < t.rank, inputs.allSatisfy({ $0.sameLayout(t) }), parts > 0, parts <= 4096,
                t.shape[axis] % parts == 0
            else {
                throw FerccError(
                    "Interleave of \(inputs.map(\.description).joined(separator: ", ")) on axis \(axis) in \(parts) parts"
                )
            }
            var shape = t.shape
            shape[axis] = t.shape[axis] / parts * inputs.count
            return Array(repeating: TensorType(t.dtype, shape, quantization: t.quantization), count: parts)

        case .depthwisePointwise(let dw, let pw, _, let residual):
            try need(residual == nil ? 5...5 : 6...6)
            let mid = try infer(.conv2D(dw), inputs: Array(inputs[0...2]))[0]
            guard pw.kernelH == 1, pw.kernelW == 1, pw.groups == 1 else {
                throw FerccError("the pointwise part must be a 1x1 convolution")
            }
            let out = try infer(.conv2D(pw), inputs: [mid, inputs[3], inputs[4]])
            if residual != nil { try checkResidual(inputs[5], of: out[0]) }
            return out

        case .expandDepthwisePointwise(let ex, let dw, let pw, let residual):
            try need(residual == nil ? 7...7 : 8...8)
            guard ex.kernelH == 1, ex.kernelW == 1, ex.groups == 1, pw.kernelH == 1, pw.kernelW == 1, pw.groups == 1
            else {
                throw FerccError("the expansion and projection must be 1x1 convolutions")
            }
            let expanded = try infer(.conv2D(ex), inputs: Array(inputs[0...2]))[0]
            let mid = try infer(.conv2D(dw), inputs: [expanded, inputs[3], inputs[4]])[0]
            let out = try infer(.conv2D(pw), inputs: [mid, inputs[5], inputs[6]])
            if residual != nil { try checkResidual(inputs[7], of: out[0]) }
            return out

        case .resize2D(let r):
            try need(1...1)
            let x = inputs[0].shape
            guard x.count == 4 else { throw FerccError("Resize input must be 4-D NHWC, got \(inputs[0])") }
            guard r.outH > 0, r.outW > 0 else { throw FerccError("Resize to \(r.outH)x\(r.outW)") }
            return [TensorType(inputs[0].dtype, [x[0], r.outH, r.outW, x[3]])]
        }
    }

    /// A fused convolution's residual input: float, [N,H,W,Cr] with the output's N, H, W and at
    /// most its channels.
    static func checkResidual(_ r: TensorType, of out: TensorType) throws {
        guard r.dtype == .float32, out.dtype == .float32, r.rank == 4, out.rank == 4,
            Array(r.shape[0..<3]) == Array(out.shape[0..<3]), r.shape[3] <= out.shape[3]
        else { throw FerccError("the residual \(r) does not fit the output \(out)") }
    }

    /// numpy broadcasting of two shapes, nil when they do not broadcast.
    public static func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Window parameters that all fit in the arithmetic below with room to spare (2^40 each).
    static func windowIsSane(_ values: Int...) -> Bool { values.allSatisfy { $0 >= 0 && $0 < 1 << 40 } }

    static func windowCount(_ size: Int, _ k: Int, _ s: Int, _ d: Int, _ pads: Int, ceil: Bool) throws -> Int {
        guard windowIsSane(size, k, s, d, pads), k >= 1, s >= 1, d >= 1 else {
            throw FerccError(
                "window of kernel \(k), stride \(s), dilation \(d) and padding \(pads) on \(size) is not valid")
        }
        guard d == 1 || k == 1 || (k - 1) <= (1 << 40) / d else {
            throw FerccError("kernel span \(k) x dilation \(d) larger than padded input \(size + pads)")
        }
        let span = (k - 1) * d + 1
        let avail = size + pads - span
        guard avail >= 0 else { throw FerccError("kernel span \(span) larger than padded input \(size + pads)") }
        return (ceil ? (avail + s - 1) / s : avail / s) + 1
    }

    /// Pool output size; with ceil mode the last window must start inside the input or the begin padding.
    public static func poolCount(_ size: Int, _ k: Int, _ s: Int, _ d: Int, _ padBegin: Int, _ padEnd: Int, ceil: Bool)
        -> Int
    {
        guard windowIsSane(size, k, s, d, padBegin, padEnd), k >= 1, s >= 1, d >= 1,
            d == 1 || k == 1 || (k - 1) <= (1 << 40) / d
        else { return 0 }
        let span = (k - 1) * d + 1
        let avail = size + padBegin + padEnd - span
        guard avail >= 0 else { return 0 }
        var n = (ceil ? (avail + s - 1) / s : avail / s) + 1
        if ceil, (n - 1) * s >= size + padBegin { n -= 1 }
        return n
    }

    static func positive(_ v: [Int], _ what: String) throws {
        guard v.allSatisfy({ $0 > 0 }) else { throw FerccError("\(what) must be positive, got \(v)") }
    }

    static func nonNegative(_ v: [Int], _ what: String) throws {
        guard v.allSatisfy({ $0 >= 0 }) else { throw FerccError("\(what) must not be negative, got \(v)") }
    }
}
