import FerccKernels

/// The operations of the IR, each with typed attributes. Spatial ops (convolution, pooling) work on
/// NHWC tensors; the others carry explicit axes and are layout-agnostic (docs/design.md).
public enum Op: Equatable, Sendable {
    /// inputs: x [N,H,W,C], weights [O,KH,KW,C/groups] (OHWI), optional bias [O].
    case conv2D(Conv2D)
    /// input: x [N,H,W,C].
    case maxPool2D(Pool2D)
    /// input: x [N,H,W,C].
    case averagePool2D(Pool2D, countIncludePad: Bool)
    /// inputs: x, scale, bias, mean, variance (each [C], C on `axis` of x).
    case batchNorm(axis: Int, epsilon: Float)
    /// inputs: a, b, optional c (broadcast to [M,N]).
    case gemm(Gemm)
    /// numpy matmul of two tensors (rank >= 2, batch dimensions broadcast).
    case matMul
    /// elementwise, numpy broadcasting, then the fused activation.
    case binary(BinaryOp, activation: Activation = .identity)
    /// elementwise, one input.
    case unary(Activation)
    /// inputs: x, slope (broadcast to x).
    case prelu
    case reduce(ReduceKind, axes: [Int], keepDims: Bool)
    /// softmax(beta * x) along `axis`.
    case softmax(axis: Int, beta: Float = 1)
    /// Static target shape (no 0 or -1 left).
    case reshape(shape: [Int])
    case transpose(perm: [Int])
    case concat(axis: Int)
    /// One output per size.
    case split(axis: Int, sizes: [Int])
    case slice(Slice)
    /// Constant padding; `pads` = begins of every axis, then ends (ONNX order). Negative pads crop.
    /// On quantized tensors `value` is real-valued and padded with its quantized value.
    case pad(pads: [Int], value: Float)
    /// float32 -> int8/uint8 with the output's quantization, or a requantization between them.
    case quantize(to: DType)
    /// int8/uint8 -> float32 with the input's quantization.
    case dequantize
    /// float32 -> float32: the values LiteRT's hybrid (dynamic-range) kernels compute with when
    /// they quantize their float input on the fly, per batch (axis 0): symmetric int8 in
    /// [-127, 127] with scale max|x| / 127, or asymmetric int8 with a scale and zero point from
    /// min(0, x) and max(0, x); each value becomes its quantized value times the scale.
    case dynamicQuantize(asymmetric: Bool)
    /// Resize of an NHWC tensor's H and W.
    case resize2D(Resize2D)
    /// ShuffleNet's channel shuffle along `axis`: view the axis as [groups, n/groups], swap the two.
    case channelShuffle(groups: Int, axis: Int)
    /// k inputs of one type: their Concat along `axis` shuffled into k groups (ShuffleNetV2's
    /// Concat + ChannelShuffle, fused): element j of input g on the axis lands at j * k + g. The
    /// result split along the axis into `parts` equal outputs (the Slices that read it, fused);
    /// the inputs' length on the axis is a multiple of `parts`.
    case interleave(axis: Int, parts: Int = 1)
    /// A depthwise convolution feeding a 1x1 convolution, computed band by band so the
    /// intermediate tensor never exists whole. inputs: x, dw weights, dw bias, pw weights, pw bias.
    /// In int8 graphs `intermediate` is the depthwise result's quantization (nil in float ones).
    /// With `residual` (float only), one more input: a residual connection (see `residual`).
    case depthwisePointwise(
        depthwise: Conv2D, pointwise: Conv2D, intermediate: Quantization? = nil, residual: Activation? = nil)
    /// A 1x1 expansion convolution feeding a depthwise convolution feeding a 1x1 projection
    /// (MobileNetV2's inverted residual, ShuffleNetV2's branch), float only, computed band by
    /// band so neither intermediate tensor exists whole. inputs: x, expand weights, expand bias,
    /// dw weights, dw bias, pw weights, pw bias; with `residual`, one more input: a residual
    /// connection.
    ///
    /// A residual connection (the fuse-residual-add pass): the last input, [N,H,W,Cr] with the
    /// output's N, H, W and Cr <= its channels, is added to the output's first Cr channels after the
    /// projection's activation (the others get + 0: an Add of a zero channel Pad of it, as
    /// BlazeFace widens its shortcuts), then the activation `residual` is applied to every channel.
    case expandDepthwisePointwise(expand: Conv2D, depthwise: Conv2D, pointwise: Conv2D, residual: Activation? = nil)

    /// A short name for tables and reports.
    public var name: String {
        switch self {
        case .conv2D: return "Conv2D"
        case .maxPool2D: return "MaxPool2D"
        case .averagePool2D: return "AveragePool2D"
        case .batchNorm: return "BatchNorm"
        case .gemm: return "Gemm"
        case .matMul: return "MatMul"
        case .binary(let b, _): return b.rawValue
        case .unary(let u): return u.opName
        case .prelu: return "PRelu"
        case .reduce(let k, _, _): return k.rawValue
        case .softmax: return "Softmax"
        case .reshape: return "Reshape"
        case .transpose: return "Transpose"
        case .concat: return "Concat"
        case .split: return "Split"
        case .slice: return "Slice"
        case .pad: return "Pad"
        case .quantize: return "Quantize"
        case .dequantize: return "Dequantize"
        case .dynamicQuantize: return "DynamicQuantize"
        case .resize2D(let r): return r.bilinear ? "ResizeBilinear" : "ResizeNearest"
        case .channelShuffle: return "ChannelShuffle"
        case .interleave: return "Interleave"
        case .depthwisePointwise: return "DepthwisePointwise"
        case .expandDepthwisePointwise: return "ExpandDepthwisePointwise"
        }
    }
}

public struct Conv2D: Equatable, Sendable {
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var dilationH: Int
    public var dilationW: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    public var groups: Int
    /// Applied to the output (TFLite's fused activation; later the fuse-activation pass).
    public var activation: Activation

    public init(
        kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
        dilationH: Int = 1, dilationW: Int = 1,
        padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
        groups: Int = 1, activation: Activation = .identity
    ) {
        self.activation = activation
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.groups = groups
    }
}

public struct Pool2D: Equatable, Sendable {
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var dilationH: Int
    public var dilationW: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    /// Output size rounds up (ONNX ceil_mode); windows never start inside the end padding.
    public var ceilMode: Bool
    public var activation: Activation

    public init(
        kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
        dilationH: Int = 1, dilationW: Int = 1,
        padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
        ceilMode: Bool = false, activation: Activation = .identity
    ) {
        self.activation = activation
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.ceilMode = ceilMode
    }
}

/// Resizing H and W of an NHWC tensor, with TFLite's coordinate conventions.
public struct Resize2D: Equatable, Sendable {
    public var outH: Int
    public var outW: Int
    public var bilinear: Bool
    public var alignCorners: Bool
    public var halfPixelCenters: Bool

    public init(outH: Int, outW: Int, bilinear: Bool, alignCorners: Bool, halfPixelCenters: Bool) {
        self.outH = outH; self.outW = outW; self.bilinear = bilinear
        self.alignCorners = alignCorners; self.halfPixelCenters = halfPixelCenters
    }
}

public struct Gemm: Equatable, Sendable {
    public var transA: Bool
    public var transB: Bool
    public var alpha: Float
    public var beta: Float
    public var activation: Activation

    public init(
        transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 1,
        activation: Activation = .identity
    ) {
        self.transA = transA; self.transB = transB; self.alpha = alpha; self.beta = beta; self.activation = activation
    }
}

/// The one activation type of fercc: what a unary op computes, and what an op applies to its
/// own output (TFLite's fused activations, what the fuse-activation pass moves into an op's
/// epilogue; `.identity` for none). The kernels' own type, so the IR, the passes and the kernels
/// never translate between three.
public typealias Activation = Kernels.Activation

extension Kernels.Activation {
    /// TFLite's RELU6 and RELU_N1_TO_1 are clips.
    public static let relu6 = Activation.clip(min: 0, max: 6)
    public static let reluN1To1 = Activation.clip(min: -1, max: 1)

    /// The real-valued clamp range of a clamping activation (nil for the others).
    public var range: ClosedRange<Float>? {
        switch self {
        case .identity: return -Float.infinity...Float.infinity
        case .relu: return 0...Float.infinity
        case .clip(let lo, let hi): return lo...hi
        case .leakyRelu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .erf: return nil
        }
    }

    /// Whether fuse-activation moves it into the op before it (the kernels apply it in
    /// registers or row by row).
    public var fusable: Bool {
        switch self {
        case .relu, .clip, .leakyRelu, .hardSwish, .sigmoid: return true
        case .identity, .hardSigmoid, .tanh, .erf: return false
        }
    }

    /// As reports print a fused activation.
    public var name: String {
        switch self {
        case .identity: return "none"
        case .relu: return "relu"
        case .clip(0, 6): return "relu6"
        case .clip(-1, 1): return "relu_n1_to_1"
        case .clip(let lo, let hi): return "clip(\(lo), \(hi))"
        case .leakyRelu(let a): return "leaky_relu(\(a))"
        case .hardSwish: return "hard_swish"
        case .sigmoid: return "sigmoid"
        case .hardSigmoid(let a, let b): return "hard_sigmoid(\(a), \(b))"
        case .tanh: return "tanh"
        case .erf: return "erf"
        }
    }

    /// The op name of a unary node computing it.
    public var opName: String {
        switch self {
        case .identity: return "Identity"
        case .relu: return "Relu"
        case .clip: return "Clip"
        case .leakyRelu: return "LeakyRelu"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid: return "HardSigmoid"
        case .hardSwish: return "HardSwish"
        case .tanh: return "Tanh"
        case .erf: return "Erf"
        }
    }
}

public enum BinaryOp: String, Equatable, Sendable, CaseIterable {
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div"
}

public enum ReduceKind: String, Equatable, Sendable {
    case mean = "ReduceMean", max = "ReduceMax", sum = "ReduceSum"
}

/// A static slice over every axis of the input: element i of axis a is start[a] + i*step[a]
/// (a step of 0 repeats one element: a broadcast).
public struct Slice: Equatable, Sendable {
    public var starts: [Int]
    public var steps: [Int]
    /// The output length along each axis.
    public var sizes: [Int]

    public init(starts: [Int], steps: [Int], sizes: [Int]) {
        self.starts = starts; self.steps = steps; self.sizes = sizes
    }
}

extension Conv2D {
    /// The kernels' geometry of this convolution from NHWC input and output shapes: the one
    /// description of a window that the lowering, the reports and the passes share (whether a
    /// convolution is depthwise, dense or grouped is `Conv2DGeometry`'s to say).
    public func geometry(input x: [Int], output y: [Int]) -> Conv2DGeometry {
        Conv2DGeometry(
            input: (x[0], x[1], x[2], x[3]), output: (y[1], y[2], y[3]), kernel: (kernelH, kernelW),
            stride: (strideH, strideW), dilation: (dilationH, dilationW), pads: (padTop, padLeft, padBottom, padRight),
            groups: groups)
    }
}

extension Pool2D {
    public func geometry(input x: [Int], output y: [Int]) -> Conv2DGeometry {
        Conv2DGeometry(
            input: (x[0], x[1], x[2], x[3]), output: (y[1], y[2], y[3]), kernel: (kernelH, kernelW),
            stride: (strideH, strideW), dilation: (dilationH, dilationW), pads: (padTop, padLeft, padBottom, padRight))
    }
}

/// The kernels' geometry type, for the IR's users.
public typealias Conv2DGeometry = Kernels.Conv2DGeometry
