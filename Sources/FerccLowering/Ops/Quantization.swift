import FerccIR
import FerccKernels

/// Quantize (float to int8/uint8, and requantization between integer types) and Dequantize,
/// with TFLite's rounding: half away from zero, requantization in fixed point.
enum QuantizationLowering {
    static func quantize(_ node: Node, to dtype: DType, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let qout = try Quantized.quant(ctx.type(y), "the output")
        let from = ctx.type(x).dtype
        guard dtype.isQuantized else { throw FerccError("Quantize to \(dtype.rawValue)") }
        if from == .float32 {
            return [
                QuantizeCall(
                    to: dtype, scale: qout.scale, zeroPoint: qout.zeroPoint, count: ctx.count(y),
                    input: try ctx.buffer(x),
                    output: try ctx.buffer(y))
            ]
        }
        guard from.isQuantized else { throw FerccError("Quantize of \(from.rawValue)") }
        let qin = try Quantized.quant(ctx.type(x), "the input")
        let m = QuantizedMath.quantizeMultiplier(Double(qin.scale) / Double(qout.scale))
        return [
            RequantizeCall(
                from: from, to: dtype, multiplier: m.multiplier, shift: m.shift, inputZeroPoint: qin.zeroPoint,
                outputZeroPoint: qout.zeroPoint, count: ctx.count(y), input: try ctx.buffer(x),
                output: try ctx.buffer(y))
        ]
    }

    static func dequantize(_ node: Node, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let q = try Quantized.quant(ctx.type(x), "the input")
        let from = ctx.type(x).dtype
        guard from.isQuantized, ctx.type(y).dtype == .float32 else {
            throw FerccError("Dequantize of \(from.rawValue)")
        }
        return [
            DequantizeCall(
                from: from, scale: q.scale, zeroPoint: q.zeroPoint, count: ctx.count(y), input: try ctx.buffer(x),
                output: try ctx.buffer(y))
        ]
    }
}

extension QuantizationLowering {
    static func dynamicQuantize(_ node: Node, asymmetric: Bool, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        guard ctx.type(x).dtype == .float32 else { throw FerccError("DynamicQuantize of a quantized tensor") }
        return [
            DynamicQuantizeCall(
                asymmetric: asymmetric, count: ctx.count(y), batches: ctx.type(x).shape[0], input: try ctx.buffer(x),
                output: try ctx.buffer(y))
        ]
    }
}

/// LiteRT's on-the-fly input quantization of a hybrid op, in float (Kernels.dynamicQuantize).
struct DynamicQuantizeCall: KernelCall {
    let asymmetric: Bool
    let count: Int, batches: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/DynamicQuantize.swift"] }
    var summary: String {
        "dynamic \(asymmetric ? "asymmetric" : "symmetric") int8 x\(count) in \(batches) \(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (n, b, a) = (count, batches, asymmetric)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in Kernels.dynamicQuantize(x, y, count: n, batches: b, asymmetric: a) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.dynamicQuantize(\(w.pointer(input, .float32)), \(w.pointer(output, .float32)), count: \(count), "
                + "batches: \(batches), asymmetric: \(asymmetric))")
    }
}

struct QuantizeCall: KernelCall {
    let to: DType
    let scale: Float, zeroPoint: Int32
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/Quantize.swift"] }
    var summary: String { "quantize to \(to.rawValue) x\(count) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (s, z, n) = (scale, zeroPoint, count)
        let x = m.pointer(input, Float.self)
        if to == .uint8 {
            let y = m.pointer(output, UInt8.self)
            return PreparedCall { _ in Kernels.quantizeUInt8(x, y, count: n, scale: s, zeroPoint: z) }
        }
        let y = m.pointer(output, Int8.self)
        return PreparedCall { _ in Kernels.quantizeInt8(x, y, count: n, scale: s, zeroPoint: z) }
    }

    func emit(_ w: inout SwiftWriter) {
        let function = to == .uint8 ? "quantizeUInt8" : "quantizeInt8"
        w.line(
            "Kernels.\(function)(\(w.pointer(input, .float32)), \(w.pointer(output, to)), count: \(count), "
                + "scale: \(SwiftWriter.float(scale)), zeroPoint: \(zeroPoint))")
    }
}

struct RequantizeCall: KernelCall {
    let from: DType, to: DType
    let multiplier: Int32, shift: Int, inputZeroPoint: Int32, outputZeroPoint: Int32
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/Quantize.swift"] }
    var summary: String { "requantize \(from.rawValue) -> \(to.rawValue) x\(count) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (mm, s, zi, zo, n) = (multiplier, shift, inputZeroPoint, outputZeroPoint, count)
        switch (from, to) {
        case (.int8, .int8):
            let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
            return PreparedCall { _ in
                Kernels.requantizeInt8(
                    x, y, count: n, multiplier: mm, shift: s, inputZeroPoint: zi, outputZeroPoint: zo)
            }
        case (.int8, _):
            let x = m.pointer(input, Int8.self), y = m.pointer(output, UInt8.self)
            return PreparedCall { _ in
                Kernels.requantizeInteger(
                    x, y, count: n, multiplier: mm, shift: s, inputZeroPoint: zi, outputZeroPoint: zo)
            }
        case (_, .int8):
            let x = m.pointer(input, UInt8.self), y = m.pointer(output, Int8.self)
            return PreparedCall { _ in
                Kernels.requantizeInteger(
                    x, y, count: n, multiplier: mm, shift: s, inputZeroPoint: zi, outputZeroPoint: zo)
            }
        default:
            let x = m.pointer(input, UInt8.self), y = m.pointer(output, UInt8.self)
            return PreparedCall { _ in
                Kernels.requantizeInteger(
                    x, y, count: n, multiplier: mm, shift: s, inputZeroPoint: zi, outputZeroPoint: zo)
            }
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let function = from == .int8 && to == .int8 ? "requantizeInt8" : "requantizeInteger"
        w.line(
            "Kernels.\(function)(\(w.pointer(input, from)), \(w.pointer(output, to)), count: \(count), multiplier: "
                + "\(multiplier), "
                + "shift: \(shift), inputZeroPoint: \(inputZeroPoint), outputZeroPoint: \(outputZeroPoint))")
    }
}

struct DequantizeCall: KernelCall {
    let from: DType
    let scale: Float, zeroPoint: Int32
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/Quantize.swift"] }
    var summary: String { "dequantize \(from.rawValue) x\(count) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (s, z, n) = (scale, zeroPoint, count)
        let y = m.pointer(output, Float.self)
        if from == .uint8 {
            let x = m.pointer(input, UInt8.self)
            return PreparedCall { _ in Kernels.dequantizeUInt8(x, y, count: n, scale: s, zeroPoint: z) }
        }
        let x = m.pointer(input, Int8.self)
        return PreparedCall { _ in Kernels.dequantizeInt8(x, y, count: n, scale: s, zeroPoint: z) }
    }

    func emit(_ w: inout SwiftWriter) {
        let function = from == .uint8 ? "dequantizeUInt8" : "dequantizeInt8"
        w.line(
            "Kernels.\(function)(\(w.pointer(input, from)), \(w.pointer(output, .float32)), count: \(count), "
                + "scale: \(SwiftWriter.float(scale)), zeroPoint: \(zeroPoint))")
    }
}
