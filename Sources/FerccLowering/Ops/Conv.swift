import FerccIR
import FerccKernels

/// Conv2D (dense, depthwise, grouped; weights computed at run time in the interpreter), the
/// fused depthwise+pointwise pair and the inverted residual, float and int8.
enum ConvLowering {
    static func conv(_ node: Node, _ c: Conv2D, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let geometry = c.geometry(input: ctx.shape(x), output: ctx.shape(y))
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            let (w, qw) = try Quantized.weights(node, 1, ctx)
            let r = try Quantized.requantization(
                node, channels: geometry.outC, weights: qw, activation: c.activation, ctx)
            let qin = try Quantized.quant(ctx.type(x), "the input")
            let conv = Int8Conv(
                geometry: geometry, weights: ctx.add(w), bias: try Quantized.bias(node, 2, ctx).map(ctx.add),
                inputZeroPoint: qin.zeroPoint, requantization: StoredRequantization(r, ctx))
            return [Int8ConvCall(conv: conv, input: try ctx.buffer(x), output: try ctx.buffer(y))]
        }
        try Quantized.requireFloat(node, ctx)
        let biasName = node.inputs.count > 2 ? node.inputs[2] : nil
        guard let weights = ctx.floats(node.inputs[1]), biasName.map(ctx.isConstant) ?? true else {
            return [
                FloatConvRuntimeWeightsCall(
                    geometry: geometry, activation: c.activation, input: try ctx.buffer(x),
                    weights: try ctx.buffer(node.inputs[1]), bias: try biasName.map(ctx.buffer),
                    output: try ctx.buffer(y))
            ]
        }
        if ctx.winograd, Kernels.WinogradConv2DKernel.applies(geometry) {
            return [
                try WinogradConvCall(
                    geometry, weights: weights, bias: biasName.flatMap(ctx.floats), activation: c.activation,
                    input: try ctx.buffer(x), output: try ctx.buffer(y), ctx)
            ]
        }
        let conv = try FloatConv(
            geometry, weights: weights, bias: biasName.flatMap(ctx.floats), activation: c.activation, ctx)
        return [FloatConvCall(conv: conv, input: try ctx.buffer(x), output: try ctx.buffer(y))]
    }

    static func depthwisePointwise(
        _ node: Node, _ dw: Conv2D, _ pw: Conv2D, _ intermediate: Quantization?, _ residual: Activation?,
        _ ctx: LoweringContext
    ) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        let mid = try ShapeInference.infer(.conv2D(dw), inputs: Array(node.inputs[0...2]).map(ctx.type))[0].shape
        let dwGeometry = dw.geometry(input: ctx.shape(x), output: mid)
        guard dwGeometry.isDepthwise else { throw FerccError("DepthwisePointwise needs a depthwise first convolution") }
        let pwGeometry = pw.geometry(input: mid, output: ctx.shape(y))
        guard pwGeometry.groups == 1 else { throw FerccError("DepthwisePointwise needs a dense second convolution") }
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            guard residual == nil else { throw FerccError("int8 DepthwisePointwise with a residual add") }
            guard let q = intermediate else {
                throw FerccError("int8 DepthwisePointwise without the intermediate's quantization")
            }
            let qin = try Quantized.quant(ctx.type(x), "the input")
            let midType = TensorType(.int8, mid, quantization: q)
            let qmid = try Quantized.quant(midType, "the intermediate")
            let (dww, dwq) = try Quantized.weights(node, 1, ctx), (pww, pwq) = try Quantized.weights(node, 3, ctx)
            let first = Int8Conv(
                geometry: dwGeometry, weights: ctx.add(dww), bias: try Quantized.bias(node, 2, ctx).map(ctx.add),
                inputZeroPoint: qin.zeroPoint,
                requantization: StoredRequantization(
                    try Quantized.requantization(
                        weights: dwq, channels: dwGeometry.outC, from: qin, to: midType, activation: dw.activation,
                        ctx), ctx))
            let second = Int8Conv(
                geometry: pwGeometry, weights: ctx.add(pww), bias: try Quantized.bias(node, 4, ctx).map(ctx.add),
                inputZeroPoint: qmid.zeroPoint,
                requantization: StoredRequantization(
                    try Quantized.requantization(
                        weights: pwq, channels: pwGeometry.outC, from: qmid, to: ctx.type(y),
                        activation: pw.activation, ctx), ctx))
            return [
                Int8DepthwisePointwiseCall(
                    depthwise: first, pointwise: second, input: try ctx.buffer(x), output: try ctx.buffer(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        let p = try node.inputs[1...4].map { name -> [Float] in
            guard let v = ctx.floats(name) else {
                throw FerccError("DepthwisePointwise needs constant weights and biases")
            }
            return v
        }
        let first = try FloatConv(dwGeometry, weights: p[0], bias: p[1], activation: dw.activation, ctx)
        let pointwise = Kernels.DepthwisePointwiseKernel.pointwiseGeometry(
            dwGeometry, rows: 1, outChannels: pwGeometry.outC)
        let second = try FloatConv(pointwise, weights: p[2], bias: p[3], activation: pw.activation, ctx)
        return [
            FloatDepthwisePointwiseCall(
                depthwise: first, pointwise: second, residual: try FloatResidual(node, 5, residual, ctx),
                input: try ctx.buffer(x), output: try ctx.buffer(y))
        ]
    }

    static func expandDepthwisePointwise(
        _ node: Node, _ ex: Conv2D, _ dw: Conv2D, _ pw: Conv2D, _ residual: Activation?, _ ctx: LoweringContext
    ) throws -> [any KernelCall] {
        try Quantized.requireFloat(node, ctx)
        let x = node.inputs[0], y = node.outputs[0]
        let p = try node.inputs[1...6].map { name -> [Float] in
            guard let v = ctx.floats(name) else {
                throw FerccError("ExpandDepthwisePointwise needs constant weights and biases")
            }
            return v
        }
        let expanded = try ShapeInference.infer(.conv2D(ex), inputs: Array(node.inputs[0...2]).map(ctx.type))[0]
        let mid = try ShapeInference.infer(
            .conv2D(dw), inputs: [expanded, ctx.type(node.inputs[3]), ctx.type(node.inputs[4])])[0].shape
        let dwGeometry = dw.geometry(input: expanded.shape, output: mid)
        guard dwGeometry.isDepthwise else {
            throw FerccError("ExpandDepthwisePointwise needs a depthwise middle convolution")
        }
        let inC = ctx.shape(x)[3], outC = ctx.shape(y)[3]
        let expand = try FloatConv(
            Kernels.ExpandDepthwisePointwiseKernel.expandGeometry(depthwise: dwGeometry, inChannels: inC),
            weights: p[0], bias: p[1], activation: ex.activation, ctx)
        let depthwise = try FloatConv(dwGeometry, weights: p[2], bias: p[3], activation: dw.activation, ctx)
        let pointwise = try FloatConv(
            Kernels.DepthwisePointwiseKernel.pointwiseGeometry(dwGeometry, rows: 1, outChannels: outC),
            weights: p[4], bias: p[5], activation: pw.activation, ctx)
        return [
            FloatExpandDepthwisePointwiseCall(
                expand: expand, depthwise: depthwise, pointwise: pointwise,
                residual: try FloatResidual(node, 7, residual, ctx), input: try ctx.buffer(x),
                output: try ctx.buffer(y))
        ]
    }
}

/// A fused convolution's residual add (`Kernels.ResidualAdd`): the tensor, its channels, the
/// activation after the add.
struct FloatResidual {
    let buffer: Buffer
    let channels: Int
    let activation: Activation

    /// Input `index` of `node` when the op has a residual add (`activation` not nil).
    init?(_ node: Node, _ index: Int, _ activation: Activation?, _ ctx: LoweringContext) throws {
        guard let activation else { return nil }
        guard node.inputs.count == index + 1 else { throw FerccError("the residual input is missing") }
        buffer = try ctx.buffer(node.inputs[index])
        channels = ctx.shape(node.inputs[index])[3]
        self.activation = activation
    }
}

extension Optional where Wrapped == FloatResidual {
    /// The kernel files a fused convolution with this residual needs besides its own.
    var kernels: [String] { self == nil ? [] : ["Float/ResidualAdd.swift"] }

    /// The `epilogue:` argument of the kernel's `run`, as generated code writes it.
    func epilogue(_ w: SwiftWriter) -> String {
        guard let r = self else { return "Kernels.NoEpilogue()" }
        return "Kernels.ResidualAdd(\(w.pointer(r.buffer, .float32)), channels: \(r.channels)"
            + "\(SwiftWriter.activation("activation", r.activation)))"
    }

    /// The residual add over the plan's memory, if any.
    func add(_ m: PlanMemory) -> Kernels.ResidualAdd? {
        map { Kernels.ResidualAdd(m.pointer($0.buffer, Float.self), channels: $0.channels, activation: $0.activation) }
    }

    var summary: String { map { " + \($0.buffer)\($0.activation == .identity ? "" : " " + $0.activation.name)" } ?? "" }
}

/// An fp32 convolution's constants in the weights: weights packed in its kernel's layout and
/// `outC` biases (zeros when the model has none).
struct FloatConv {
    let geometry: Conv2DGeometry
    let packed: Int
    let bias: Int
    let activation: Activation
    var depthwise: Bool { geometry.isDepthwise }
    var kernelType: String { depthwise ? "DepthwiseConv2DKernel" : "Conv2DKernel" }

    init(_ g: Conv2DGeometry, weights: [Float], bias: [Float]?, activation: Activation, _ ctx: LoweringContext) throws {
        let taps = g.kernelH * g.kernelW * g.inputChannelsPerGroup
        guard weights.count == g.outC * taps else {
            throw FerccError("the weights have \(weights.count) values, the convolution needs \(g.outC * taps)")
        }
        guard bias.map({ $0.count == g.outC }) ?? true else {
            throw FerccError("the bias does not have \(g.outC) values")
        }
        geometry = g
        self.activation = activation
        let packed = weights.withUnsafeBufferPointer {
            Kernels.packConvolutionWeights(geometry: g, weights: $0)
        }
        self.packed = ctx.add(packed)
        self.bias = ctx.add(bias ?? [Float](repeating: 0, count: g.outC))
    }

    func conv(_ m: PlanMemory) -> Kernels.Conv2DKernel {
        Kernels.Conv2DKernel(
            geometry: geometry, packed: m.weights(packed), bias: m.weights(bias), activation: activation)
    }

    func depthwiseConv(_ m: PlanMemory) -> Kernels.DepthwiseConv2DKernel {
        Kernels.DepthwiseConv2DKernel(
            geometry: geometry, packed: m.weights(packed), bias: m.weights(bias), activation: activation)
    }

    /// The arguments of its kernel's initializer, as generated code writes them.
    var arguments: String {
        "packed: f32(weights + \(packed)), bias: f32(weights + \(bias))"
    }
}

struct FloatConvCall: KernelCall {
    let conv: FloatConv
    let input: Buffer, output: Buffer

    var kernels: [String] { [conv.depthwise ? "Float/DepthwiseConv2D.swift" : "Float/Conv2D.swift"] }
    var summary: String { "\(conv.kernelType) \(conv.geometry.summary) \(conv.activation.name) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        let scratch = conv.geometry.paddedInputCount * 4
        if conv.depthwise {
            let k = conv.depthwiseConv(m)
            return PreparedCall(scratchBytes: scratch) {
                k.run(input: x, output: y, scratch: $0.assumingMemoryBound(to: Float.self))
            }
        }
        let k = conv.conv(m)
        return PreparedCall(scratchBytes: scratch) {
            k.run(input: x, output: y, scratch: $0.assumingMemoryBound(to: Float.self))
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.\(conv.kernelType)"
        let k = w.kernel(
            "conv", type,
            "\(type)(geometry: \(SwiftWriter.geometry(conv.geometry)), \(conv.arguments)"
                + "\(SwiftWriter.activation("activation", conv.activation)))")
        w.scratch(bytes: conv.geometry.paddedInputCount * 4)
        w.line(
            "\(k).run(input: \(w.pointer(input, .float32)), output: \(w.pointer(output, .float32)), scratch: "
                + "\(w.scratch(.float32)), "
                + "clamp: \(SwiftWriter.clamp(conv.activation)))")
    }
}

/// A float 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) or F(4x4, 3x3) (`Kernels.WinogradConv2DKernel`):
/// the weights stay OHWI in the model, the kernel transforms them when it is made.
struct WinogradConvCall: KernelCall {
    let geometry: Conv2DGeometry
    let weights: Int, bias: Int
    let activation: Activation
    let input: Buffer, output: Buffer

    init(
        _ g: Conv2DGeometry, weights: [Float], bias: [Float]?, activation: Activation, input: Buffer,
        output: Buffer, _ ctx: LoweringContext
    ) throws {
        guard weights.count == g.outC * 9 * g.inC else {
            throw FerccError("the weights have \(weights.count) values, the convolution needs \(g.outC * 9 * g.inC)")
        }
        guard bias.map({ $0.count == g.outC }) ?? true else {
            throw FerccError("the bias does not have \(g.outC) values")
        }
        geometry = g
        self.activation = activation
        self.weights = ctx.add(weights)
        self.bias = ctx.add(bias ?? [Float](repeating: 0, count: g.outC))
        self.input = input
        self.output = output
    }

    var kernels: [String] { ["Float/WinogradConv2D.swift"] }
    var summary: String {
        let m = Kernels.WinogradConv2DKernel.tileSize(geometry)
        return "WinogradConv2DKernel F(\(m)x\(m)) \(geometry.summary) \(activation.name) \(input) -> \(output)"
    }

    var ownedBytes: Int { Kernels.WinogradConv2DKernel.ownedBytes(geometry) }

    func prepare(_ m: PlanMemory) throws -> PreparedCall {
        guard
            let k = Kernels.WinogradConv2DKernel(
                geometry: geometry, weights: m.weights(weights), bias: m.weights(bias), activation: activation)
        else {
            throw FerccError("cannot allocate \(describeBytes(ownedBytes)) for a Winograd convolution's weights")
        }
        return PreparedCall.float(k, m, input, output)
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.WinogradConv2DKernel"
        let k = w.failableKernel(
            "winograd", type,
            "\(type)(geometry: \(SwiftWriter.geometry(geometry)), weights: f32(weights + \(weights)), "
                + "bias: f32(weights + \(bias))\(SwiftWriter.activation("activation", activation)))")
        w.scratch(expression: "\(k).scratchCount * 4")
        w.line(
            "\(k).run(input: \(w.pointer(input, .float32)), output: \(w.pointer(output, .float32)), scratch: "
                + "\(w.scratch(.float32)), clamp: \(SwiftWriter.clamp(activation)))")
    }
}

/// A float convolution whose weights a node computes (the interpreter packs them on every run).
struct FloatConvRuntimeWeightsCall: KernelCall {
    let geometry: Conv2DGeometry
    let activation: Activation
    let input: Buffer, weights: Buffer, bias: Buffer?, output: Buffer

    var kernels: [String] { [] }
    var summary: String { "Conv2D with run-time weights \(geometry.summary) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let g = geometry, activation = activation
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        let w = UnsafeBufferPointer(
            start: UnsafePointer(m.pointer(weights, Float.self)),
            count: g.outC * g.kernelH * g.kernelW * g.inputChannelsPerGroup)
        let b = bias.map { UnsafePointer(m.pointer($0, Float.self)) }
        return PreparedCall(scratchBytes: g.paddedInputCount * 4) { s in
            let packed = Kernels.packConvolutionWeights(geometry: g, weights: w)
            let zeros = [Float](repeating: 0, count: g.outC)
            packed.withUnsafeBufferPointer { p in
                zeros.withUnsafeBufferPointer { z in
                    let bias = b ?? z.baseAddress!
                    if g.isDepthwise {
                        Kernels.DepthwiseConv2DKernel(
                            geometry: g, packed: p.baseAddress!, bias: bias, activation: activation
                        )
                        .run(input: x, output: y, scratch: s.assumingMemoryBound(to: Float.self))
                    } else {
                        Kernels.Conv2DKernel(geometry: g, packed: p.baseAddress!, bias: bias, activation: activation)
                            .run(input: x, output: y, scratch: s.assumingMemoryBound(to: Float.self))
                    }
                }
            }
        }
    }

    func emit(_ w: inout SwiftWriter) throws {
        throw FerccError("convolution weights computed at run time are not supported by the code generator")
    }
}

struct FloatDepthwisePointwiseCall: KernelCall {
    let depthwise: FloatConv, pointwise: FloatConv
    let residual: FloatResidual?
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/DepthwisePointwise.swift"] + residual.kernels }
    var summary: String {
        "DepthwisePointwiseKernel \(depthwise.geometry.summary), 1x1 -> \(pointwise.geometry.outC)\(residual.summary) "
            + "\(input) -> \(output)"
    }

    func kernel(_ m: PlanMemory) -> Kernels.DepthwisePointwiseKernel {
        Kernels.DepthwisePointwiseKernel(
            depthwise: depthwise.geometry, packedDepthwise: m.weights(depthwise.packed),
            depthwiseBias: m.weights(depthwise.bias), depthwiseActivation: depthwise.activation,
            packedPointwise: m.weights(pointwise.packed), pointwiseBias: m.weights(pointwise.bias),
            outChannels: pointwise.geometry.outC, pointwiseActivation: pointwise.activation)
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = kernel(m)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self), r = residual.add(m)
        return PreparedCall(scratchBytes: k.scratchCount * 4) {
            Kernels.run(k, input: x, output: y, scratch: $0.assumingMemoryBound(to: Float.self), residual: r)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.DepthwisePointwiseKernel"
        let k = w.kernel(
            "fused", type,
            "\(type)(depthwise: \(SwiftWriter.geometry(depthwise.geometry)), "
                + "packedDepthwise: f32(weights + \(depthwise.packed)), depthwiseBias: f32(weights + \(depthwise.bias))"
                + "\(SwiftWriter.activation("depthwiseActivation", depthwise.activation)), packedPointwise: "
                + "f32(weights + \(pointwise.packed)), "
                + "pointwiseBias: f32(weights + \(pointwise.bias)), outChannels: \(pointwise.geometry.outC)"
                + "\(SwiftWriter.activation("pointwiseActivation", pointwise.activation)))")
        w.scratch(expression: "\(k).scratchCount * 4")
        w.line(
            "\(k).run(input: \(w.pointer(input, .float32)), output: \(w.pointer(output, .float32)), scratch: "
                + "\(w.scratch(.float32)), "
                + "depthwiseClamp: \(SwiftWriter.clamp(depthwise.activation)), pointwiseClamp: "
                + "\(SwiftWriter.clamp(pointwise.activation)), epilogue: \(residual.epilogue(w)))"
        )
    }
}

struct FloatExpandDepthwisePointwiseCall: KernelCall {
    let expand: FloatConv, depthwise: FloatConv, pointwise: FloatConv
    let residual: FloatResidual?
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/ExpandDepthwisePointwise.swift"] + residual.kernels }
    var summary: String {
        "ExpandDepthwisePointwiseKernel 1x1 \(expand.geometry.inC) -> \(expand.geometry.outC), "
            + "\(depthwise.geometry.summary), "
            + "1x1 -> \(pointwise.geometry.outC)\(residual.summary) \(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.ExpandDepthwisePointwiseKernel(
            expandChannelsFrom: expand.geometry.inC, packedExpand: m.weights(expand.packed),
            expandBias: m.weights(expand.bias),
            expandActivation: expand.activation, depthwise: depthwise.geometry,
            packedDepthwise: m.weights(depthwise.packed),
            depthwiseBias: m.weights(depthwise.bias), depthwiseActivation: depthwise.activation,
            packedPointwise: m.weights(pointwise.packed),
            pointwiseBias: m.weights(pointwise.bias), outChannels: pointwise.geometry.outC,
            pointwiseActivation: pointwise.activation)
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self), r = residual.add(m)
        return PreparedCall(scratchBytes: k.scratchCount * 4) {
            Kernels.run(k, input: x, output: y, scratch: $0.assumingMemoryBound(to: Float.self), residual: r)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.ExpandDepthwisePointwiseKernel"
        let k = w.kernel(
            "fused", type,
            "\(type)(expandChannelsFrom: \(expand.geometry.inC), packedExpand: f32(weights + \(expand.packed)), "
                + "expandBias: f32(weights + "
                + "\(expand.bias))\(SwiftWriter.activation("expandActivation", expand.activation)), "
                + "depthwise: \(SwiftWriter.geometry(depthwise.geometry)), packedDepthwise: f32(weights + "
                + "\(depthwise.packed)), "
                + "depthwiseBias: f32(weights + "
                + "\(depthwise.bias))\(SwiftWriter.activation("depthwiseActivation", depthwise.activation)), "
                + "packedPointwise: f32(weights + \(pointwise.packed)), pointwiseBias: f32(weights + "
                + "\(pointwise.bias)), "
                + "outChannels: "
                + "\(pointwise.geometry.outC)\(SwiftWriter.activation("pointwiseActivation", pointwise.activation)))"
        )
        w.scratch(expression: "\(k).scratchCount * 4")
        w.line(
            "\(k).run(input: \(w.pointer(input, .float32)), output: \(w.pointer(output, .float32)), scratch: "
                + "\(w.scratch(.float32)), "
                + "expandClamp: \(SwiftWriter.clamp(expand.activation)), depthwiseClamp: "
                + "\(SwiftWriter.clamp(depthwise.activation)), "
                + "pointwiseClamp: \(SwiftWriter.clamp(pointwise.activation)), epilogue: \(residual.epilogue(w)))")
    }
}

/// An int8 convolution's parameters in the weights: OHWI int8 weights, int32 bias, the
/// requantization. The kernel packs them for its instruction set when it is built.
struct Int8Conv {
    let geometry: Conv2DGeometry
    let weights: Int
    let bias: Int?
    let inputZeroPoint: Int32
    let requantization: StoredRequantization

    /// The kernel of its kind: dense (one group), depthwise, or grouped.
    var kernelType: String {
        geometry.groups == 1
            ? "QuantizedDenseConv2DKernel"
            : (geometry.isDepthwise ? "QuantizedDepthwiseConv2DKernel" : "QuantizedGroupedConv2DKernel")
    }
    var kernelFile: String { "Int8/\(kernelType.replacing("Kernel", with: "")).swift" }

    func parameters(_ m: PlanMemory) -> Kernels.QuantizedConvParameters {
        Kernels.QuantizedConvParameters(
            geometry: geometry,
            weights: Array(UnsafeBufferPointer(start: m.weights(weights, Int8.self), count: geometry.outC * taps)),
            bias: bias.map { Array(UnsafeBufferPointer(start: m.weights($0, Int32.self), count: geometry.outC)) },
            inputZeroPoint: inputZeroPoint, requantization: requantization.read(m))
    }

    var taps: Int { geometry.kernelH * geometry.kernelW * geometry.inputChannelsPerGroup }

    /// `Kernels.QuantizedConvParameters(...)` over the stored values, as generated code writes it.
    var parametersExpression: String {
        "Kernels.QuantizedConvParameters(geometry: \(SwiftWriter.geometry(geometry)), weights: i8(weights + "
            + "\(weights)), "
            + "bias: \(bias.map { "i32(weights + \($0))" } ?? "nil"), inputZeroPoint: \(inputZeroPoint), "
            + "\(requantization.arguments))"
    }
}

struct Int8ConvCall: KernelCall {
    let conv: Int8Conv
    let input: Buffer, output: Buffer

    var kernels: [String] { [conv.kernelFile] }
    var summary: String { "\(conv.kernelType) \(conv.geometry.summary) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        let p = conv.parameters(m)
        if conv.geometry.groups == 1 {
            let k = Kernels.QuantizedDenseConv2DKernel(p)
            return PreparedCall(scratchBytes: k.scratchBytes) { k.run(input: x, output: y, scratch: $0) }
        }
        if conv.geometry.isDepthwise {
            let k = Kernels.QuantizedDepthwiseConv2DKernel(p)
            return PreparedCall(scratchBytes: k.scratchBytes) { k.run(input: x, output: y, scratch: $0) }
        }
        let k = Kernels.QuantizedGroupedConv2DKernel(p)
        return PreparedCall { _ in k.run(input: x, output: y) }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.\(conv.kernelType)"
        let k = w.kernel("qconv", type, "\(type)(\(conv.parametersExpression))")
        if conv.kernelType == "QuantizedGroupedConv2DKernel" {
            w.line("\(k).run(input: \(w.pointer(input, .int8)), output: \(w.pointer(output, .int8)))")
        } else {
            w.scratch(expression: "\(k).scratchBytes")
            w.line("\(k).run(input: \(w.pointer(input, .int8)), output: \(w.pointer(output, .int8)), scratch: scratch)")
        }
    }
}

struct Int8DepthwisePointwiseCall: KernelCall {
    let depthwise: Int8Conv, pointwise: Int8Conv
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedDepthwisePointwise.swift"] }
    var summary: String {
        "QuantizedDepthwisePointwiseKernel \(depthwise.geometry.summary), 1x1 -> \(pointwise.geometry.outC) "
            + "\(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let k = Kernels.QuantizedDepthwisePointwiseKernel(
            depthwise: Kernels.QuantizedDepthwiseConv2DKernel(depthwise.parameters(m)),
            pointwise: Kernels.QuantizedDenseConv2DKernel(pointwise.parameters(m)))
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self)
        return PreparedCall(scratchBytes: k.scratchBytes) { k.run(input: x, output: y, scratch: $0) }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.QuantizedDepthwisePointwiseKernel"
        let k = w.kernel(
            "qfused", type,
            "\(type)(depthwise: Kernels.QuantizedDepthwiseConv2DKernel(\(depthwise.parametersExpression)), "
                + "pointwise: Kernels.QuantizedDenseConv2DKernel(\(pointwise.parametersExpression)))")
        w.scratch(expression: "\(k).scratchBytes")
        w.line("\(k).run(input: \(w.pointer(input, .int8)), output: \(w.pointer(output, .int8)), scratch: scratch)")
    }
}

/// The float kernels that run from one buffer into another with a count of scratch floats.
protocol FloatScratchKernel {
    var scratchCount: Int { get }
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>)
}

extension Kernels.WinogradConv2DKernel: FloatScratchKernel {}

extension PreparedCall {
    /// `k` run from `input` to `output`, with its scratch.
    static func float(_ k: some FloatScratchKernel, _ m: PlanMemory, _ input: Buffer, _ output: Buffer) -> PreparedCall
    {
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall(scratchBytes: k.scratchCount * 4) {
            k.run(input: x, output: y, scratch: $0.assumingMemoryBound(to: Float.self))
        }
    }
}
