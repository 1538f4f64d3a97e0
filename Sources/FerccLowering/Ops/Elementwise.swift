import FerccIR
import FerccKernels

/// Add, Sub, Mul, Div (numpy broadcasting; int8 add, sub and mul with TFLite's rescaling),
/// unary activations (int8: tables, and HardSwish in 16-bit fixed point), PRelu, BatchNorm.
enum ElementwiseLowering {
    static func binary(_ node: Node, _ op: BinaryOp, _ activation: Activation, _ ctx: LoweringContext) throws
        -> [any KernelCall]
    {
        let a = node.inputs[0], b = node.inputs[1], y = node.outputs[0]
        let out = try ctx.buffer(y)
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            guard ctx.type(b).dtype == .int8 else {
                throw FerccError("\(op.rawValue) of int8 and \(ctx.type(b).dtype.rawValue)")
            }
            let kind: Kernels.QuantizedBinaryKernel.Kind
            switch op {
            case .add: kind = .add
            case .sub: kind = .sub
            case .mul: kind = .mul
            case .div: throw FerccError("int8 Div is not supported")
            }
            let q1 = try Quantized.quant(ctx.type(a), "input 1"), q2 = try Quantized.quant(ctx.type(b), "input 2")
            let qo = try Quantized.quant(ctx.type(y), "the output")
            let (lo, hi) = try Quantized.clampRange(ctx.type(y), activation)
            return [
                Int8BinaryCall(
                    kind: kind, scale1: q1.scale, zeroPoint1: q1.zeroPoint, scale2: q2.scale, zeroPoint2: q2.zeroPoint,
                    outputScale: qo.scale, outputZeroPoint: qo.zeroPoint, min: lo, max: hi,
                    floatArithmetic: ctx.graph.int8Arithmetic == .fercc && kind != .mul,
                    a: try ctx.buffer(a), aShape: ctx.shape(a), b: try ctx.buffer(b), bShape: ctx.shape(b),
                    output: out, outShape: ctx.shape(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        let kind: Kernels.BinaryKind
        switch op {
        case .add: kind = .add
        case .sub: kind = .sub
        case .mul: kind = .mul
        case .div: kind = .div
        }
        var calls: [any KernelCall] = [
            FloatBinaryCall(
                kind: kind, a: try ctx.buffer(a), aShape: ctx.shape(a), b: try ctx.buffer(b),
                bShape: ctx.shape(b), output: out, outShape: ctx.shape(y))
        ]
        if activation != .identity {
            calls.append(ActivationCall(activation: activation, count: ctx.count(y), input: out, output: out))
        }
        return calls
    }

    static func unary(_ node: Node, _ activation: Activation, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            let qin = try Quantized.quant(ctx.type(x), "the input"),
                qout = try Quantized.quant(ctx.type(y), "the output")
            let table = Int8TableCall.Parameters(
                inputScale: qin.scale, inputZeroPoint: qin.zeroPoint, outputScale: qout.scale,
                outputZeroPoint: qout.zeroPoint)
            return [
                Int8TableCall(
                    activation: activation, parameters: table, count: ctx.count(y), input: try ctx.buffer(x),
                    output: try ctx.buffer(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        return [
            ActivationCall(
                activation: activation, count: ctx.count(y), input: try ctx.buffer(x), output: try ctx.buffer(y))
        ]
    }

    static func prelu(_ node: Node, _ ctx: LoweringContext) throws -> [any KernelCall] {
        try Quantized.requireFloat(node, ctx)
        return [
            PReluCall(
                x: try ctx.buffer(node.inputs[0]), xShape: ctx.shape(node.inputs[0]),
                slope: try ctx.buffer(node.inputs[1]),
                slopeShape: ctx.shape(node.inputs[1]), output: try ctx.buffer(node.outputs[0]))
        ]
    }

    static func batchNorm(_ node: Node, axis: Int, epsilon: Float, _ ctx: LoweringContext) throws -> [any KernelCall] {
        try Quantized.requireFloat(node, ctx)
        let p = try node.inputs[1...].map { name -> [Float] in
            guard let v = ctx.floats(name) else { throw FerccError("BatchNorm parameters must be constant") }
            return v
        }
        let a = batchNormScaleShift(gamma: p[0], beta: p[1], mean: p[2], variance: p[3], epsilon: epsilon)
        let xs = ctx.shape(node.inputs[0])
        return [
            ChannelAffineCall(
                scale: ctx.add(a.scale.map { Float($0) }), shift: ctx.add(a.shift.map { Float($0) }),
                outer: xs[..<axis].reduce(1, *), channels: xs[axis], inner: xs[(axis + 1)...].reduce(1, *),
                input: try ctx.buffer(node.inputs[0]), output: try ctx.buffer(node.outputs[0]))
        ]
    }
}

/// An activation over `count` floats, from `input` to `output` (which may be the same).
struct ActivationCall: KernelCall {
    let activation: Activation
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Common/Activation.swift"] }
    var summary: String { "Activation \(activation.name) x\(count) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let a = activation, n = count, x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in a.run(x, y, count: n) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.Activation\(SwiftWriter.activation(activation)).run(\(w.pointer(input, .float32)), "
                + "\(w.pointer(output, .float32)), "
                + "count: \(count))")
    }
}

struct FloatBinaryCall: KernelCall {
    let kind: Kernels.BinaryKind
    let a: Buffer, aShape: [Int]
    let b: Buffer, bShape: [Int]
    let output: Buffer, outShape: [Int]

    var kernels: [String] { ["Float/Binary.swift"] }
    var summary: String { "binaryBroadcast \(kind) \(aShape) \(a), \(bShape) \(b) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (kind, sa, sb, so) = (kind, aShape, bShape, outShape)
        let x = m.pointer(a, Float.self), z = m.pointer(b, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in Kernels.binaryBroadcast(kind, x, sa, z, sb, y, so) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.binaryBroadcast(.\(kind), \(w.pointer(a, .float32)), \(w.array(aShape)), "
                + "\(w.pointer(b, .float32)), "
                + "\(w.array(bShape)), \(w.pointer(output, .float32)), \(w.array(outShape)))")
    }
}

struct Int8BinaryCall: KernelCall {
    let kind: Kernels.QuantizedBinaryKernel.Kind
    let scale1: Float, zeroPoint1: Int32, scale2: Float, zeroPoint2: Int32, outputScale: Float, outputZeroPoint: Int32
    let min: Int32, max: Int32
    /// Add and subtract requantized in float32 (graphs fercc quantized itself, `Int8Arithmetic.fercc`).
    let floatArithmetic: Bool
    let a: Buffer, aShape: [Int]
    let b: Buffer, bShape: [Int]
    let output: Buffer, outShape: [Int]

    var kernels: [String] { ["Int8/QuantizedBinary.swift"] }
    var summary: String {
        "QuantizedBinaryKernel \(kind)\(floatArithmetic ? " (float)" : "") \(aShape) \(a), \(bShape) \(b) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.QuantizedBinaryKernel(
            kind: kind, scale1: scale1, zeroPoint1: zeroPoint1, scale2: scale2, zeroPoint2: zeroPoint2,
            outputScale: outputScale, outputZeroPoint: outputZeroPoint, min: min, max: max,
            floatArithmetic: floatArithmetic)
        let (sa, sb, so) = (aShape, bShape, outShape)
        let x = m.pointer(a, Int8.self), z = m.pointer(b, Int8.self), y = m.pointer(output, Int8.self)
        return PreparedCall { _ in k.run(x, sa, z, sb, y, so) }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.QuantizedBinaryKernel"
        let f = SwiftWriter.float
        let k = w.kernel(
            "qbinary", type,
            "\(type)(kind: .\(kind), scale1: \(f(scale1)), zeroPoint1: \(zeroPoint1), scale2: \(f(scale2)), "
                + "zeroPoint2: \(zeroPoint2), outputScale: \(f(outputScale)), outputZeroPoint: \(outputZeroPoint), "
                + "min: \(min), max: \(max)\(floatArithmetic ? ", floatArithmetic: true" : ""))"
        )
        w.line(
            "\(k).run(\(w.pointer(a, .int8)), \(w.array(aShape)), \(w.pointer(b, .int8)), \(w.array(bShape)), "
                + "\(w.pointer(output, .int8)), \(w.array(outShape)))")
    }
}

/// An int8 unary activation: TFLite's 16-bit fixed-point hard-swish, or a 256-entry table of the
/// float function (TFLite's LOGISTIC and TANH, and every other activation the same way).
struct Int8TableCall: KernelCall {
    struct Parameters {
        var inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32
        var arguments: String {
            "inputScale: \(SwiftWriter.float(inputScale)), inputZeroPoint: \(inputZeroPoint), outputScale: "
                + "\(SwiftWriter.float(outputScale)), "
                + "outputZeroPoint: \(outputZeroPoint)"
        }
    }
    let activation: Activation
    let parameters: Parameters
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedLookup.swift"] }
    var summary: String {
        "\(activation == .hardSwish ? "QuantizedHardSwishKernel" : "QuantizedLookupTable \(activation.name)") "
            + "x\(count) \(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let p = parameters, n = count
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        if activation == .hardSwish {
            let k = Kernels.QuantizedHardSwishKernel(
                inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint, outputScale: p.outputScale,
                outputZeroPoint: p.outputZeroPoint)
            return PreparedCall { _ in k.run(x, y, count: n) }
        }
        let k = Kernels.QuantizedLookupTable(
            activation, inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint, outputScale: p.outputScale,
            outputZeroPoint: p.outputZeroPoint)
        return PreparedCall { _ in k.run(x, y, count: n) }
    }

    func emit(_ w: inout SwiftWriter) {
        let k: String
        if activation == .hardSwish {
            k = w.kernel(
                "qhardswish", "Kernels.QuantizedHardSwishKernel",
                "Kernels.QuantizedHardSwishKernel(\(parameters.arguments))")
        } else {
            k = w.kernel(
                "qtable", "Kernels.QuantizedLookupTable",
                "Kernels.QuantizedLookupTable(\(SwiftWriter.activation(activation)), \(parameters.arguments))")
        }
        w.line("\(k).run(\(w.pointer(input, .int8)), \(w.pointer(output, .int8)), count: \(count))")
    }
}

struct PReluCall: KernelCall {
    let x: Buffer, xShape: [Int]
    let slope: Buffer, slopeShape: [Int]
    let output: Buffer

    var kernels: [String] { ["Float/PRelu.swift"] }
    var summary: String { "prelu \(xShape) \(x), slope \(slopeShape) \(slope) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (xs, ss) = (xShape, slopeShape)
        let a = m.pointer(x, Float.self), s = m.pointer(slope, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in Kernels.prelu(a, xs, s, ss, y) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.prelu(\(w.pointer(x, .float32)), \(w.array(xShape)), \(w.pointer(slope, .float32)), "
                + "\(w.array(slopeShape)), "
                + "\(w.pointer(output, .float32)))")
    }
}

/// y = x * scale[c] + shift[c] over [outer, channels, inner] (a BatchNorm the passes left).
struct ChannelAffineCall: KernelCall {
    let scale: Int, shift: Int
    let outer: Int, channels: Int, inner: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/ChannelAffine.swift"] }
    var summary: String { "channelAffine [\(outer), \(channels), \(inner)] \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (o, c, i) = (outer, channels, inner)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        let s: UnsafePointer<Float> = m.weights(scale), t: UnsafePointer<Float> = m.weights(shift)
        return PreparedCall { _ in Kernels.channelAffine(x, y, scale: s, shift: t, outer: o, channels: c, inner: i) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line(
            "Kernels.channelAffine(\(w.pointer(input, .float32)), \(w.pointer(output, .float32)), scale: "
                + "f32(weights + \(scale)), "
                + "shift: f32(weights + \(shift)), outer: \(outer), channels: \(channels), inner: \(inner))")
    }
}
