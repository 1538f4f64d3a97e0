import FerccIR
import FerccKernels

/// Quantized nodes with TFLite's reference arithmetic (per-channel convolution, the ADD/MUL
/// rescaling, pooling rounding, the fixed-point softmax, MEAN).
extension Interpreter {
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

    static func prepareQuantized(_ node: Node, _ graph: Graph, _ inTypes: [TensorType], _ outTypes: [TensorType]) throws -> Step {
        let outCount = outTypes[0].count
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
        case .conv2D(let c):
            try int8Only()
            let geo = c.geometry(inTypes[0].shape, outTypes[0].shape)
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let (w, qw) = try weights(1)
            let scales = (0..<geo.outC).map { oc in
                Double(qin.scale) * Double(qw.scales.count == 1 ? qw.scales[0] : qw.scales[oc]) / Double(qout.scale)
            }
            guard qw.scales.count == 1 || qw.scales.count == geo.outC else { throw FerccError("per-channel weight scales do not match \(geo.outC) output channels") }
            let (lo, hi) = try clampRange(outTypes[0], c.activation)
            let k = QuantizedConv2DKernel(geometry: geo, weights: w, bias: try bias(2), inputZeroPoint: qin.zeroPoint,
                                          requantization: Requantization(scales: scales, outputZeroPoint: qout.zeroPoint, min: lo, max: hi))
            let scratchBytes = k.scratchBytes
            return { args in
                let x = args[0].int8s!
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 1), alignment: 64)
                defer { scratch.deallocate() }
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) { k.run(input: xb.baseAddress!, output: $0, scratch: scratch) } })]
            }

        case .gemm(let g):
            try int8Only()
            guard g.transB, !g.transA, g.alpha == 1, g.beta == 1 else { throw FerccError("quantized Gemm must be a fully connected layer (transB, alpha = beta = 1)") }
            let (w, qw) = try weights(1)
            let outputs = inTypes[1].shape[0], depth = inTypes[1].shape[1], batch = inTypes[0].shape[0]
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let scales = (0..<outputs).map { o in Double(qin.scale) * Double(qw.scales.count == 1 ? qw.scales[0] : qw.scales[o]) / Double(qout.scale) }
            let (lo, hi) = try clampRange(outTypes[0], g.activation)
            let k = QuantizedFullyConnectedKernel(weights: w, bias: try bias(2), outputs: outputs, depth: depth, inputZeroPoint: qin.zeroPoint,
                                                  requantization: Requantization(scales: scales, outputZeroPoint: qout.zeroPoint, min: lo, max: hi))
            return { args in
                let x = args[0].int8s!
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) { k.run(input: xb.baseAddress!, output: $0, batch: batch) } })]
            }

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
            let k = QuantizedBinaryKernel(kind: kind, scale1: q1.scale, zeroPoint1: q1.zeroPoint, scale2: q2.scale, zeroPoint2: q2.zeroPoint,
                                          outputScale: qo.scale, outputZeroPoint: qo.zeroPoint, min: lo, max: hi)
            let outShape = outTypes[0].shape
            let sa = broadcastStrides(inTypes[0].shape, to: outShape), sb = broadcastStrides(inTypes[1].shape, to: outShape)
            let same = inTypes[0].shape == inTypes[1].shape
            return { args in
                let a = args[0].int8s!, b = args[1].int8s!
                if same { return [.int8(zip(a, b).map { k.apply($0, $1) })] }
                var out = [Int8](repeating: 0, count: outCount)
                var idx = [Int](repeating: 0, count: outShape.count)
                for o in 0..<outCount {
                    var ia = 0, ib = 0
                    for d in 0..<outShape.count { ia += idx[d] * sa[d]; ib += idx[d] * sb[d] }
                    out[o] = k.apply(a[ia], b[ib])
                    var d = outShape.count - 1
                    while d >= 0 { idx[d] += 1; if idx[d] < outShape[d] { break }; idx[d] = 0; d -= 1 }
                }
                return [.int8(out)]
            }

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
            let geo = p.geometry(inTypes[0].shape, outTypes[0].shape)
            let (lo, hi) = try clampRange(outTypes[0], p.activation)
            return { args in
                let x = args[0].int8s!
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) { quantizedPool(geo, average: average, min: lo, max: hi, xb.baseAddress!, $0) } })]
            }

        case .reduce(.mean, let axes, _):
            try int8Only()
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let s = inTypes[0].shape
            let k = QuantizedMeanKernel(inputScale: qin.scale, inputZeroPoint: qin.zeroPoint, outputScale: qout.scale,
                                        outputZeroPoint: qout.zeroPoint, count: axes.reduce(1) { $0 * s[$1] })
            var outStrides = contiguousStrides(axes.reduce(into: s) { $0[$1] = 1 })
            for a in axes { outStrides[a] = 0 }
            return { args in
                let x = args[0].int8s!
                var sums = [Int32](repeating: 0, count: outCount)
                var idx = [Int](repeating: 0, count: s.count)
                for v in x {
                    var o = 0
                    for d in 0..<s.count { o += idx[d] * outStrides[d] }
                    sums[o] &+= Int32(v)
                    var d = s.count - 1
                    while d >= 0 { idx[d] += 1; if idx[d] < s[d] { break }; idx[d] = 0; d -= 1 }
                }
                return [.int8(sums.map { k.apply(sum: $0) })]
            }

        case .softmax(let axis, let beta):
            try int8Only()
            guard axis == inTypes[0].rank - 1 else { throw FerccError("quantized Softmax only along the last axis") }
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            guard abs(qout.scale - 1.0 / 256) < 1e-9, qout.zeroPoint == -128 else {
                throw FerccError("int8 Softmax output must have scale 1/256 and zero point -128")
            }
            let k = QuantizedSoftmaxKernel(beta: beta, inputScale: qin.scale)
            let depth = inTypes[0].shape.last!, outer = outCount / max(depth, 1)
            return { args in
                let x = args[0].int8s!
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) { k.run(xb.baseAddress!, $0, outer: outer, depth: depth) } })]
            }

        case .quantize(let dtype):
            let qout = try quant(outTypes[0], "the output")
            if inTypes[0].dtype == .float32 {
                return { args in [RuntimeTensor.quantize(args[0].floats!, qout, as: dtype)] }
            }
            // Requantization between integer types: TFLite's Requantize.
            let qin = try quant(inTypes[0], "the input")
            let m = QuantizedMath.quantizeMultiplier(Double(qin.scale) / Double(qout.scale))
            let range = dtype.integerRange!
            return { args in
                let values: [Int32]
                switch args[0] {
                case .int8(let v): values = v.map { Int32($0) }
                case .uint8(let v): values = v.map { Int32($0) }
                default: values = []
                }
                let q = values.map { v in
                    min(max(QuantizedMath.multiplyByQuantizedMultiplier(v - qin.zeroPoint, m.multiplier, m.shift) + qout.zeroPoint, range.lowerBound), range.upperBound)
                }
                return [dtype == .uint8 ? .uint8(q.map { UInt8($0) }) : .int8(q.map { Int8($0) })]
            }

        case .dequantize:
            let q = try quant(inTypes[0], "the input")
            return { args in [.float(args[0].dequantized(q))] }

        case .concat(let axis):
            // Inputs with other parameters than the output are requantized in float (TFLite's ConcatenationWithScaling).
            try int8Only()
            let qout = try quant(outTypes[0], "the output")
            let params = try inTypes.map { try quant($0, "an input") }
            let shapes = inTypes.map(\.shape), outShape = outTypes[0].shape
            return { args in
                let rescaled: [RuntimeTensor] = zip(args, params).map { t, q in
                    if q.scale == qout.scale && q.zeroPoint == qout.zeroPoint { return t }
                    let scale = q.scale / qout.scale, bias = -Float(q.zeroPoint) * scale
                    return .int8(t.int8s!.map { v in
                        Int8(min(max((Float(v) * scale + bias).rounded(.toNearestOrAwayFromZero) + Float(qout.zeroPoint), -128), 127))
                    })
                }
                return [concatenate(rescaled, shapes: shapes, axis: axis, outShape: outShape)]
            }

        case .unary(let u):
            try int8Only()
            let qin = try quant(inTypes[0], "the input"), qout = try quant(outTypes[0], "the output")
            let apply: (Int8) -> Int8
            switch u {
            case .sigmoid, .tanh:
                let f: (Float) -> Float = u == .sigmoid
                    ? { x in 1 / (1 + Float(KernelMath.exp(Double(-x)))) }
                    : { x in KernelMath.tanh(x) }
                let table = QuantizedLookupTable(inputScale: qin.scale, inputZeroPoint: qin.zeroPoint,
                                                 outputScale: qout.scale, outputZeroPoint: qout.zeroPoint, f)
                apply = table.apply
            case .hardSwish:
                let k = QuantizedHardSwishKernel(inputScale: qin.scale, inputZeroPoint: qin.zeroPoint,
                                                 outputScale: qout.scale, outputZeroPoint: qout.zeroPoint)
                apply = k.apply
            default:
                throw FerccError("\(u.name) on int8 tensors is not supported")
            }
            return { args in [.int8(args[0].int8s!.map(apply))] }

        default:
            throw FerccError("\(node.op.name) on quantized tensors is not supported")
        }
    }
}
