import FerccIR
import FerccKernels

/// ReduceMean, ReduceMax, ReduceSum (int8: mean, as LiteRT's reference kernel) and Softmax
/// (int8: TFLite's fixed-point softmax along the last axis).
enum ReduceLowering {
    static func reduce(_ node: Node, _ kind: ReduceKind, axes: [Int], _ ctx: LoweringContext) throws -> [any KernelCall]
    {
        let x = node.inputs[0], y = node.outputs[0]
        let shape = ctx.shape(x)
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            guard kind == .mean else { throw FerccError("\(kind.rawValue) on quantized tensors is not supported") }
            let qin = try Quantized.quant(ctx.type(x), "the input"),
                qout = try Quantized.quant(ctx.type(y), "the output")
            return [
                Int8MeanCall(
                    inputScale: qin.scale, inputZeroPoint: qin.zeroPoint, outputScale: qout.scale,
                    outputZeroPoint: qout.zeroPoint,
                    count: axes.reduce(1) { $0 * shape[$1] }, shape: shape, axes: axes, input: try ctx.buffer(x),
                    output: try ctx.buffer(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        let operation: Kernels.ReduceOperation
        switch kind {
        case .mean: operation = .mean
        case .max: operation = .max
        case .sum: operation = .sum
        }
        return [
            ReduceCall(
                operation: operation, shape: shape, axes: axes, input: try ctx.buffer(x), output: try ctx.buffer(y))
        ]
    }

    static func softmax(_ node: Node, axis: Int, beta: Float, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let shape = ctx.shape(x)
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            guard axis == shape.count - 1 else { throw FerccError("quantized Softmax only along the last axis") }
            let qin = try Quantized.quant(ctx.type(x), "the input"),
                qout = try Quantized.quant(ctx.type(y), "the output")
            guard abs(qout.scale - 1.0 / 256) < 1e-9, qout.zeroPoint == -128 else {
                throw FerccError("int8 Softmax output must have scale 1/256 and zero point -128")
            }
            let depth = shape.last!
            return [
                Int8SoftmaxCall(
                    beta: beta, inputScale: qin.scale, outer: ctx.count(y) / max(depth, 1), depth: depth,
                    input: try ctx.buffer(x), output: try ctx.buffer(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        return [
            SoftmaxCall(
                outer: shape[..<axis].reduce(1, *), axis: shape[axis], inner: shape[(axis + 1)...].reduce(1, *),
                beta: beta,
                input: try ctx.buffer(x), output: try ctx.buffer(y))
        ]
    }
}

struct ReduceCall: KernelCall {
    let operation: Kernels.ReduceOperation
    let shape: [Int], axes: [Int]
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/Reduce.swift"] }
    var summary: String { "reduce \(operation) \(shape) axes \(axes) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (op, s, a) = (operation, shape, axes)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in Kernels.reduce(x, s, axes: a, op, y) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.reduce(\(w.pointer(input, .float32)), \(w.array(shape)), axes: \(w.array(axes)), .\(operation), "
                + "\(w.pointer(output, .float32)))")
    }
}

struct Int8MeanCall: KernelCall {
    let inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32, count: Int
    let shape: [Int], axes: [Int]
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedMean.swift"] }
    var summary: String { "QuantizedMeanKernel \(shape) axes \(axes) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.QuantizedMeanKernel(
            inputScale: inputScale, inputZeroPoint: inputZeroPoint, outputScale: outputScale,
            outputZeroPoint: outputZeroPoint, count: count)
        let (s, a) = (shape, axes)
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        return PreparedCall { _ in k.run(x, s, axes: a, y) }
    }

    func emit(_ w: inout SwiftWriter) {
        let k = w.kernel(
            "qmean", "Kernels.QuantizedMeanKernel",
            "Kernels.QuantizedMeanKernel(inputScale: \(SwiftWriter.float(inputScale)), "
                + "inputZeroPoint: \(inputZeroPoint), outputScale: \(SwiftWriter.float(outputScale)), "
                + "outputZeroPoint: \(outputZeroPoint), "
                + "count: \(count))")
        w.line(
            "\(k).run(\(w.pointer(input, .int8)), \(w.array(shape)), axes: \(w.array(axes)), "
                + "\(w.pointer(output, .int8)))"
        )
    }
}

struct SoftmaxCall: KernelCall {
    let outer: Int, axis: Int, inner: Int
    let beta: Float
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/Softmax.swift"] }
    var summary: String { "softmax [\(outer), \(axis), \(inner)] \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (o, a, i, b) = (outer, axis, inner, beta)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in Kernels.softmax(x, y, outer: o, axis: a, inner: i, beta: b) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.softmax(\(w.pointer(input, .float32)), \(w.pointer(output, .float32)), outer: \(outer), axis: "
                + "\(axis), "
                + "inner: \(inner), beta: \(SwiftWriter.float(beta)))")
    }
}

struct Int8SoftmaxCall: KernelCall {
    let beta: Float, inputScale: Float
    let outer: Int, depth: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedSoftmax.swift"] }
    var summary: String { "QuantizedSoftmaxKernel [\(outer), \(depth)] \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.QuantizedSoftmaxKernel(beta: beta, inputScale: inputScale)
        let (o, d) = (outer, depth)
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        return PreparedCall { _ in k.run(x, y, outer: o, depth: d) }
    }

    func emit(_ w: inout SwiftWriter) {
        let k = w.kernel(
            "qsoftmax", "Kernels.QuantizedSoftmaxKernel",
            "Kernels.QuantizedSoftmaxKernel(beta: \(SwiftWriter.float(beta)), inputScale: "
                + "\(SwiftWriter.float(inputScale)))"
        )
        w.line("\(k).run(\(w.pointer(input, .int8)), \(w.pointer(output, .int8)), outer: \(outer), depth: \(depth))")
    }
}
