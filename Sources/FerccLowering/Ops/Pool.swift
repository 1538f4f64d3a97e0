import FerccIR
import FerccKernels

/// MaxPool2D and AveragePool2D, float and int8 (TFLite's rounding of the average).
enum PoolLowering {
    /// `average`: nil for max pooling, else whether the divisor counts padded taps.
    static func pool(_ node: Node, _ p: Pool2D, average: Bool?, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let geometry = p.geometry(input: ctx.shape(x), output: ctx.shape(y))
        let input = try ctx.buffer(x), output = try ctx.buffer(y)
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            let qin = try Quantized.quant(ctx.type(x), "the input"),
                qout = try Quantized.quant(ctx.type(y), "the output")
            guard qin.scale == qout.scale, qin.zeroPoint == qout.zeroPoint else {
                throw FerccError("quantized pooling needs the same input and output quantization")
            }
            if average == true, p.padTop + p.padLeft + p.padBottom + p.padRight > 0 {
                throw FerccError("quantized average pooling that counts padding is not supported")
            }
            let (lo, hi) = try Quantized.clampRange(ctx.type(y), p.activation)
            return [
                Int8PoolCall(
                    geometry: geometry, average: average != nil, min: lo, max: hi, input: input, output: output)
            ]
        }
        try Quantized.requireFloat(node, ctx)
        var calls: [any KernelCall] = [
            FloatPoolCall(geometry: geometry, countIncludePad: average, input: input, output: output)
        ]
        if p.activation != .identity {
            calls.append(ActivationCall(activation: p.activation, count: ctx.count(y), input: output, output: output))
        }
        return calls
    }
}

struct FloatPoolCall: KernelCall {
    let geometry: Conv2DGeometry
    /// nil: max pooling.
    let countIncludePad: Bool?
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/Pool2D.swift"] }
    var summary: String {
        "Pool2DKernel \(countIncludePad == nil ? "max" : "average") \(geometry.summary) \(input) -> \(output)"
    }
    var kind: Kernels.Pool2DKernel.Kind { countIncludePad.map { .average(countIncludePad: $0) } ?? .max }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.Pool2DKernel(geometry: geometry, kind: kind)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in k.run(input: x, output: y) }
    }

    func emit(_ w: inout SwiftWriter) {
        let kind = countIncludePad.map { ".average(countIncludePad: \($0))" } ?? ".max"
        let k = w.kernel(
            "pool", "Kernels.Pool2DKernel",
            "Kernels.Pool2DKernel(geometry: \(SwiftWriter.geometry(geometry)), kind: \(kind))")
        w.line("\(k).run(input: \(w.pointer(input, .float32)), output: \(w.pointer(output, .float32)))")
    }
}

struct Int8PoolCall: KernelCall {
    let geometry: Conv2DGeometry
    let average: Bool
    let min: Int32, max: Int32
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedPool.swift"] }
    var summary: String {
        "QuantizedPoolKernel \(average ? "average" : "max") \(geometry.summary) \(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.QuantizedPoolKernel(geometry: geometry, average: average, min: min, max: max)
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        return PreparedCall { _ in k.run(input: x, output: y) }
    }

    func emit(_ w: inout SwiftWriter) {
        let k = w.kernel(
            "qpool", "Kernels.QuantizedPoolKernel",
            "Kernels.QuantizedPoolKernel(geometry: \(SwiftWriter.geometry(geometry)), "
                + "average: \(average), min: \(min), max: \(max))")
        w.line("\(k).run(input: \(w.pointer(input, .int8)), output: \(w.pointer(output, .int8)))")
    }
}
