import FerccIR
import FerccKernels

/// The int8 parameters every quantized op resolves from the IR's tensor types: scales and zero
/// points, constant int8 weights and int32 biases, and the clamp range of a fused activation.
enum Quantized {
    static func quant(_ t: TensorType, _ what: String) throws -> Quantization {
        guard let q = t.quantization, !q.scales.isEmpty else {
            throw FerccError("\(what) is \(t.dtype.rawValue) without quantization parameters")
        }
        guard q.scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw FerccError("\(what) has a scale that is not positive and finite")
        }
        return q
    }

    /// The int8 clamp of `activation` on an output of type `t` (only clamping activations have one).
    static func clampRange(_ t: TensorType, _ activation: Activation) throws -> (Int32, Int32) {
        let q = try quant(t, "the output")
        let r = t.dtype.integerRange!
        guard let a = activation.range else {
            throw FerccError("the fused activation \(activation.name) has no int8 form")
        }
        return QuantizedMath.activationRange(
            (a.lowerBound, a.upperBound), scale: q.scale, zeroPoint: q.zeroPoint, qmin: r.lowerBound,
            qmax: r.upperBound)
    }

    /// Whether `node` runs on int8 (its first input or output is quantized).
    static func isQuantized(_ node: Node, _ ctx: LoweringContext) -> Bool {
        ctx.type(node.inputs[0]).dtype.isQuantized || ctx.type(node.outputs[0]).dtype.isQuantized
    }

    /// The node's first input and output must be int8 (uint8 tensors have no int8 kernels).
    static func requireInt8(_ node: Node, _ ctx: LoweringContext) throws {
        for name in [node.inputs[0], node.outputs[0]] where ctx.type(name).dtype != .int8 {
            throw FerccError("\(node.op.name) on \(ctx.type(name).dtype.rawValue) tensors is not supported (int8 only)")
        }
    }

    /// Every tensor of a float op must be float32.
    static func requireFloat(_ node: Node, _ ctx: LoweringContext) throws {
        for name in node.inputs + node.outputs where ctx.type(name).dtype != .float32 {
            throw FerccError("\(node.op.name) on \(ctx.type(name).dtype.rawValue) tensors is not supported")
        }
    }

    static func weights(_ node: Node, _ i: Int, _ ctx: LoweringContext) throws -> ([Int8], Quantization) {
        guard case .int8(let w)? = ctx.constant(node.inputs[i]) else {
            throw FerccError("\(node.op.name) needs constant int8 weights")
        }
        return (w, try quant(ctx.type(node.inputs[i]), "the weights"))
    }

    static func bias(_ node: Node, _ i: Int, _ ctx: LoweringContext) throws -> [Int32]? {
        guard node.inputs.count > i else { return nil }
        guard case .int32(let b)? = ctx.constant(node.inputs[i]) else {
            throw FerccError("\(node.op.name) needs a constant int32 bias")
        }
        return b
    }

    /// The node's requantization, from its input to its output (`requantization(weights:...)`).
    static func requantization(
        _ node: Node, channels: Int, weights qw: Quantization, activation: Activation,
        _ ctx: LoweringContext
    ) throws -> Requantization {
        try requantization(
            weights: qw, channels: channels, from: quant(ctx.type(node.inputs[0]), "the input"),
            to: ctx.type(node.outputs[0]), activation: activation, ctx)
    }

    /// Per output channel: input scale x weight scale / output scale, requantized TFLite's way
    /// (imported graphs) or in float (graphs fercc quantized: `floatScaling`); the activation's
    /// clamp on `output`.
    static func requantization(
        weights qw: Quantization, channels: Int, from qin: Quantization, to output: TensorType,
        activation: Activation, _ ctx: LoweringContext
    ) throws -> Requantization {
        guard qw.scales.count == 1 || qw.scales.count == channels else {
            throw FerccError("per-channel weight scales do not match \(channels) output channels")
        }
        let qout = try quant(output, "the output")
        let scales = (0..<channels).map { c in
            Double(qin.scale) * Double(qw.scales.count == 1 ? qw.scales[0] : qw.scales[c]) / Double(qout.scale)
        }
        let (lo, hi) = try clampRange(output, activation)
        return Requantization(
            scales: scales, outputZeroPoint: qout.zeroPoint, min: lo, max: hi, float: floatScaling(ctx))
    }

    /// Whether convolutions and fully connected layers scale their accumulators in float
    /// (`QuantizedMath.scaleInFloat`): in graphs fercc quantized itself (design decision 31).
    static func floatScaling(_ ctx: LoweringContext) -> Bool { ctx.graph.int8Arithmetic == .fercc }
}

/// A requantization stored in the weights: multipliers (int32) and shifts (int8) per channel,
/// and the float scales when the scaling is float.
struct StoredRequantization {
    let requantization: Requantization
    let multipliers: Int
    let shifts: Int
    let floatScales: Int?

    init(_ r: Requantization, _ ctx: LoweringContext) {
        requantization = r
        multipliers = ctx.add(r.multipliers)
        // TFLite's shifts lie within [-31, 30]: a byte each keeps the blob small.
        shifts = ctx.add(r.shifts.map { Int8(clamping: $0) })
        floatScales = r.floatScales.map(ctx.add)
    }

    /// The stored requantization read back (what generated code reads).
    func read(_ m: PlanMemory) -> Requantization {
        let n = requantization.multipliers.count
        return Requantization(
            multipliers: Array(UnsafeBufferPointer(start: m.weights(multipliers, Int32.self), count: n)),
            shifts: UnsafeBufferPointer(start: m.weights(shifts, Int8.self), count: n).map { Int($0) },
            floatScales: floatScales.map { Array(UnsafeBufferPointer(start: m.weights($0, Float.self), count: n)) },
            outputZeroPoint: requantization.outputZeroPoint, min: requantization.min, max: requantization.max)
    }

    /// The arguments of the kernels' pointer-taking initializers.
    var arguments: String {
        let r = requantization
        return
            "multipliers: i32(weights + \(multipliers)), shifts: i8(weights + \(shifts)), "
            + (floatScales.map { "scales: f32(weights + \($0)), " } ?? "") + "channels: \(r.multipliers.count), "
            + "outputZeroPoint: \(r.outputZeroPoint), min: \(r.min), max: \(r.max)"
    }
}

extension Conv2DGeometry {
    /// "3x3/2 112x112x32 -> 56x56x64" for plan summaries.
    var summary: String {
        var s = "\(kernelH)x\(kernelW)"
        if strideH != 1 || strideW != 1 { s += "/\(strideH == strideW ? "\(strideH)" : "\(strideH)x\(strideW)")" }
        if dilationH != 1 || dilationW != 1 { s += " dilation \(dilationH)x\(dilationW)" }
        if groups != 1 { s += " groups \(groups)" }
        return s + " \(inH)x\(inW)x\(inC) -> \(outH)x\(outW)x\(outC)"
    }
}
