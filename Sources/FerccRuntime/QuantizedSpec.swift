import FerccIR
import FerccKernels

/// What an int8 node computes, with every quantization parameter resolved from the IR (scales,
/// zero points, requantization multipliers, clamp ranges): the interpreter builds its kernels
/// from it and the code generator writes the same kernel constructions into Swift, so that both
/// run identical integer arithmetic (TFLite's reference kernels').
public enum QuantizedSpec {
    case conv(geometry: Conv2DGeometry, weights: [Int8], bias: [Int32]?, inputZeroPoint: Int32, requantization: Requantization)
    /// A fused depthwise + pointwise pair: the two `.conv` specs, through the int8 intermediate.
    indirect case depthwisePointwise(depthwise: QuantizedSpec, pointwise: QuantizedSpec)
    case fullyConnected(weights: [Int8], bias: [Int32]?, outputs: Int, depth: Int, batch: Int, inputZeroPoint: Int32,
                        requantization: Requantization)
    case binary(BinaryParameters, aShape: [Int], bShape: [Int], outShape: [Int])
    case pool(geometry: Conv2DGeometry, average: Bool, min: Int32, max: Int32)
    case mean(MeanParameters, shape: [Int], axes: [Int])
    case softmax(beta: Float, inputScale: Float, outer: Int, depth: Int)
    /// float -> int8 (TFLite QUANTIZE: rounds half away from zero).
    case quantize(scale: Float, zeroPoint: Int32)
    /// int8 -> int8 with other parameters.
    case requantize(multiplier: Int32, shift: Int, inputZeroPoint: Int32, outputZeroPoint: Int32)
    case dequantize(scale: Float, zeroPoint: Int32)
    /// LOGISTIC / TANH as a 256-entry table.
    case lookup(sigmoid: Bool, TableParameters)
    case hardSwish(TableParameters)
    /// Per input: nil when its parameters equal the output's, else the float rescale.
    case concat(axis: Int, rescales: [(scale: Float, bias: Float)?], outputZeroPoint: Int32)

    public struct BinaryParameters {
        public var kind: QuantizedBinaryKernel.Kind
        public var scale1: Float, zeroPoint1: Int32, scale2: Float, zeroPoint2: Int32
        public var outputScale: Float, outputZeroPoint: Int32, min: Int32, max: Int32
        public var kernel: QuantizedBinaryKernel {
            QuantizedBinaryKernel(kind: kind, scale1: scale1, zeroPoint1: zeroPoint1, scale2: scale2, zeroPoint2: zeroPoint2,
                                  outputScale: outputScale, outputZeroPoint: outputZeroPoint, min: min, max: max)
        }
    }

    public struct MeanParameters {
        public var inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32, count: Int
        public var kernel: QuantizedMeanKernel {
            QuantizedMeanKernel(inputScale: inputScale, inputZeroPoint: inputZeroPoint, outputScale: outputScale,
                                outputZeroPoint: outputZeroPoint, count: count)
        }
    }

    public struct TableParameters {
        public var inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32
    }

    /// The real function of a lookup-table op, as the generated code writes it too.
    public static func lookupFunction(sigmoid: Bool) -> (Float) -> Float {
        sigmoid ? { x in 1 / (1 + Float(KernelMath.exp(Double(-x)))) } : { x in KernelMath.tanh(x) }
    }

    static func quant(_ t: TensorType, _ what: String) throws -> Quantization {
        guard let q = t.quantization, !q.scales.isEmpty else { throw FerccError("\(what) is \(t.dtype.rawValue) without quantization parameters") }
        guard q.scales.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw FerccError("\(what) has a scale that is not positive and finite") }
        return q
    }

    static func clampRange(_ t: TensorType, _ activation: FusedActivation) throws -> (Int32, Int32) {
        let q = try quant(t, "the output")
        let r = t.dtype.integerRange!
        guard let a = activation.range else { throw FerccError("the fused activation \(activation.name) has no int8 form") }
        return QuantizedMath.activationRange((a.lowerBound, a.upperBound), scale: q.scale, zeroPoint: q.zeroPoint, qmin: r.lowerBound, qmax: r.upperBound)
    }

    /// The spec of an int8 node, or an error naming what is not supported. Quantize and
    /// requantize nodes to or from uint8 are left to the caller (nil).
    public static func make(_ node: Node, _ graph: Graph) throws -> QuantizedSpec? {
        let inTypes = node.inputs.map { graph.values[$0]!.type }
        let outTypes = node.outputs.map { graph.values[$0]!.type }
        func int8Only() throws {
            for t in [inTypes[0], outTypes[0]] where t.dtype != .int8 {
                throw FerccError("\(node.op.name) on \(t.dtype.rawValue) tensors is not supported (int8 only)")
            }
        }
        func weights(_ i: Int) throws -> ([Int8], Quantization) {
            guard case .int8(let w)? = graph.values[node.inputs[i]]?.constant else {
                throw FerccError("\(node.op.name) needs constant int8 weights")
            }
            return (w, try quant(inTypes[i], "the weights"))
        }
        func bias(_ i: Int) throws -> [Int32]? {
            guard node.inputs.count > i else { return nil }
            guard case .int32(let b)? = graph.values[node.inputs[i]]?.constant else {
                throw FerccError("\(node.op.name) needs a constant int32 bias")
            }
            return b
        }
        switch node.op {
        case .depthwisePointwise(let dw, let pw, let intermediate):
            // The two convolutions as they were before fusion, through the intermediate value.
            guard let q = intermediate else { throw FerccError("int8 DepthwisePointwise without the intermediate's quantization") }
            try int8Only()
            let x = inTypes[0].shape, y = outTypes[0].shape
            guard x.count == 4, y.count == 4 else { throw FerccError("DepthwisePointwise needs 4-D NHWC tensors") }
            var g = graph
            let mid = node.name + "#depthwise"
            g.values[mid] = Value(name: mid, type: TensorType(.int8, [x[0], y[1], y[2], x[3]], quantization: q))
            let dwNode = Node(name: node.name, op: .conv2D(dw), inputs: Array(node.inputs[0...2]), outputs: [mid])
            let pwNode = Node(name: node.name, op: .conv2D(pw), inputs: [mid, node.inputs[3], node.inputs[4]], outputs: node.outputs)
            guard let a = try make(dwNode, g), let b = try make(pwNode, g) else { throw FerccError("int8 DepthwisePointwise") }
            return .depthwisePointwise(depthwise: a, pointwise: b)

        case .conv2D(let c):
            try int8Only()
            let geo = c.geometry(inTypes[0].shape, outTypes[0].shape)
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let (w, qw) = try weights(1)
            guard qw.scales.count == 1 || qw.scales.count == geo.outC else { throw FerccError("per-channel weight scales do not match \(geo.outC) output channels") }
            let scales = (0..<geo.outC).map { oc in
                Double(qin.scale) * Double(qw.scales.count == 1 ? qw.scales[0] : qw.scales[oc]) / Double(qout.scale)
            }
            let (lo, hi) = try clampRange(outTypes[0], c.activation)
            return .conv(geometry: geo, weights: w, bias: try bias(2), inputZeroPoint: qin.zeroPoint,
                         requantization: Requantization(scales: scales, outputZeroPoint: qout.zeroPoint, min: lo, max: hi))

        case .gemm(let g):
            try int8Only()
            guard g.transB, !g.transA, g.alpha == 1, g.beta == 1 else { throw FerccError("quantized Gemm must be a fully connected layer (transB, alpha = beta = 1)") }
            let (w, qw) = try weights(1)
            let outputs = inTypes[1].shape[0], depth = inTypes[1].shape[1], batch = inTypes[0].shape[0]
            guard qw.scales.count == 1 || qw.scales.count == outputs else { throw FerccError("per-channel weight scales do not match \(outputs) outputs") }
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let scales = (0..<outputs).map { o in Double(qin.scale) * Double(qw.scales.count == 1 ? qw.scales[0] : qw.scales[o]) / Double(qout.scale) }
            let (lo, hi) = try clampRange(outTypes[0], g.activation)
            return .fullyConnected(weights: w, bias: try bias(2), outputs: outputs, depth: depth, batch: batch, inputZeroPoint: qin.zeroPoint,
                                   requantization: Requantization(scales: scales, outputZeroPoint: qout.zeroPoint, min: lo, max: hi))

        case .binary(let op, let activation):
            try int8Only()
            guard inTypes[1].dtype == .int8 else { throw FerccError("\(op.rawValue) of int8 and \(inTypes[1].dtype.rawValue)") }
            let kind: QuantizedBinaryKernel.Kind
            switch op {
            case .add: kind = .add
            case .sub: kind = .sub
            case .mul: kind = .mul
            case .div: throw FerccError("int8 Div is not supported")
            }
            let q1 = try quant(inTypes[0], "input 1"), q2 = try quant(inTypes[1], "input 2"), qo = try quant(outTypes[0], "the output")
            let (lo, hi) = try clampRange(outTypes[0], activation)
            return .binary(BinaryParameters(kind: kind, scale1: q1.scale, zeroPoint1: q1.zeroPoint, scale2: q2.scale, zeroPoint2: q2.zeroPoint,
                                            outputScale: qo.scale, outputZeroPoint: qo.zeroPoint, min: lo, max: hi),
                           aShape: inTypes[0].shape, bShape: inTypes[1].shape, outShape: outTypes[0].shape)

        case .maxPool2D(let p), .averagePool2D(let p, _):
            try int8Only()
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            guard qin.scale == qout.scale, qin.zeroPoint == qout.zeroPoint else {
                throw FerccError("quantized pooling needs the same input and output quantization")
            }
            var average = false
            if case .averagePool2D(_, let includePad) = node.op {
                average = true
                if includePad, p.padTop + p.padLeft + p.padBottom + p.padRight > 0 {
                    throw FerccError("quantized average pooling that counts padding is not supported")
                }
            }
            let (lo, hi) = try clampRange(outTypes[0], p.activation)
            return .pool(geometry: p.geometry(inTypes[0].shape, outTypes[0].shape), average: average, min: lo, max: hi)

        case .reduce(.mean, let axes, _):
            try int8Only()
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let s = inTypes[0].shape
            return .mean(MeanParameters(inputScale: qin.scale, inputZeroPoint: qin.zeroPoint, outputScale: qout.scale,
                                        outputZeroPoint: qout.zeroPoint, count: axes.reduce(1) { $0 * s[$1] }), shape: s, axes: axes)

        case .softmax(let axis, let beta):
            try int8Only()
            guard axis == inTypes[0].rank - 1 else { throw FerccError("quantized Softmax only along the last axis") }
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            guard abs(qout.scale - 1.0 / 256) < 1e-9, qout.zeroPoint == -128 else {
                throw FerccError("int8 Softmax output must have scale 1/256 and zero point -128")
            }
            let depth = inTypes[0].shape.last!
            return .softmax(beta: beta, inputScale: qin.scale, outer: outTypes[0].count / max(depth, 1), depth: depth)

        case .quantize(let dtype):
            let qout = try quant(outTypes[0], "the output")
            guard dtype == .int8 else { return nil }
            if inTypes[0].dtype == .float32 { return .quantize(scale: qout.scale, zeroPoint: qout.zeroPoint) }
            guard inTypes[0].dtype == .int8 else { return nil }
            let qin = try quant(inTypes[0], "the input")
            let m = QuantizedMath.quantizeMultiplier(Double(qin.scale) / Double(qout.scale))
            return .requantize(multiplier: m.multiplier, shift: m.shift, inputZeroPoint: qin.zeroPoint, outputZeroPoint: qout.zeroPoint)

        case .dequantize:
            let q = try quant(inTypes[0], "the input")
            guard inTypes[0].dtype == .int8 else { return nil }
            return .dequantize(scale: q.scale, zeroPoint: q.zeroPoint)

        case .concat(let axis):
            // Inputs with other parameters than the output are requantized in float (TFLite's ConcatenationWithScaling).
            try int8Only()
            let qout = try quant(outTypes[0], "the output")
            let rescales: [(scale: Float, bias: Float)?] = try inTypes.map { t in
                let q = try quant(t, "an input")
                guard t.dtype == .int8 else { throw FerccError("Concat of int8 and \(t.dtype.rawValue)") }
                if q.scale == qout.scale && q.zeroPoint == qout.zeroPoint { return nil }
                let scale = q.scale / qout.scale
                return (scale, -Float(q.zeroPoint) * scale)
            }
            return .concat(axis: axis, rescales: rescales, outputZeroPoint: qout.zeroPoint)

        case .unary(let u):
            try int8Only()
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let p = TableParameters(inputScale: qin.scale, inputZeroPoint: qin.zeroPoint, outputScale: qout.scale, outputZeroPoint: qout.zeroPoint)
            switch u {
            case .sigmoid: return .lookup(sigmoid: true, p)
            case .tanh: return .lookup(sigmoid: false, p)
            case .hardSwish: return .hardSwish(p)
            default: throw FerccError("\(u.name) on int8 tensors is not supported")
            }

        default:
            throw FerccError("\(node.op.name) on quantized tensors is not supported")
        }
    }
}
