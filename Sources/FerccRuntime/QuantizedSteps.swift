import FerccIR
import FerccKernels

/// Quantized nodes with TFLite's reference arithmetic (per-channel convolution, the ADD/MUL
/// rescaling, pooling rounding, the fixed-point softmax, MEAN), built from `QuantizedSpec`.
extension Interpreter {
    static func prepareQuantized(_ node: Node, _ graph: Graph, _ inTypes: [TensorType], _ outTypes: [TensorType]) throws -> Step {
        let outCount = outTypes[0].count
        func int8Step(_ body: @escaping (UnsafePointer<Int8>, UnsafeMutablePointer<Int8>) -> Void) -> Step {
            { args in
                let x = args[0].int8s!
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) { body(xb.baseAddress!, $0) } })]
            }
        }
        guard let spec = try QuantizedSpec.make(node, graph) else { return try prepareUInt8(node, inTypes, outTypes) }
        switch spec {
        case .conv(let geometry, let weights, let bias, let zp, let requantization):
            let k = QuantizedConv2DKernel(geometry: geometry, weights: weights, bias: bias, inputZeroPoint: zp, requantization: requantization)
            let scratchBytes = k.scratchBytes
            return int8Step { x, y in
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 1), alignment: 64)
                defer { scratch.deallocate() }
                k.run(input: x, output: y, scratch: scratch)
            }
        case .depthwisePointwise(let dwSpec, let pwSpec):
            guard case .conv(let dg, let dw, let db, let dzp, let drq) = dwSpec, case .conv(let pg, let pw, let pb, let pzp, let prq) = pwSpec else {
                throw FerccError("int8 DepthwisePointwise")
            }
            let k = QuantizedDepthwisePointwiseKernel(
                depthwise: QuantizedConv2DKernel(geometry: dg, weights: dw, bias: db, inputZeroPoint: dzp, requantization: drq),
                pointwise: QuantizedConv2DKernel(geometry: pg, weights: pw, bias: pb, inputZeroPoint: pzp, requantization: prq))
            let scratchBytes = k.scratchBytes
            return int8Step { x, y in
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 1), alignment: 64)
                defer { scratch.deallocate() }
                k.run(input: x, output: y, scratch: scratch)
            }
        case .fullyConnected(let weights, let bias, let outputs, let depth, let batch, let zp, let requantization):
            let k = QuantizedFullyConnectedKernel(weights: weights, bias: bias, outputs: outputs, depth: depth, inputZeroPoint: zp,
                                                  requantization: requantization)
            return int8Step { k.run(input: $0, output: $1, batch: batch) }
        case .binary(let p, let aShape, let bShape, let outShape):
            let k = p.kernel
            return { args in
                let a = args[0].int8s!, b = args[1].int8s!
                return [.int8(a.withUnsafeBufferPointer { ab in b.withUnsafeBufferPointer { bb in
                    makeArray(outCount) { k.run(ab.baseAddress!, aShape, bb.baseAddress!, bShape, $0, outShape) }
                } })]
            }
        case .pool(let geometry, let average, let lo, let hi):
            let k = QuantizedPoolKernel(geometry: geometry, average: average, min: lo, max: hi)
            return int8Step { k.run(input: $0, output: $1) }
        case .mean(let p, let shape, let axes):
            let k = p.kernel
            return int8Step { k.run($0, shape, axes: axes, $1) }
        case .softmax(let beta, let inputScale, let outer, let depth):
            let k = QuantizedSoftmaxKernel(beta: beta, inputScale: inputScale)
            return int8Step { k.run($0, $1, outer: outer, depth: depth) }
        case .quantize(let scale, let zp):
            return { args in
                let x = args[0].floats!
                return [.int8(x.withUnsafeBufferPointer { xb in makeArray(outCount) {
                    quantizeInt8(xb.baseAddress!, $0, count: outCount, scale: scale, zeroPoint: zp)
                } })]
            }
        case .requantize(let m, let shift, let inZp, let outZp):
            return int8Step { requantizeInt8($0, $1, count: outCount, multiplier: m, shift: shift, inputZeroPoint: inZp, outputZeroPoint: outZp) }
        case .dequantize(let scale, let zp):
            return { args in
                let x = args[0].int8s!
                return [.float(x.withUnsafeBufferPointer { xb in makeArray(outCount) { dequantizeInt8(xb.baseAddress!, $0, count: outCount, scale: scale, zeroPoint: zp) } })]
            }
        case .lookup(let sigmoid, let p):
            let k = QuantizedLookupTable(inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint, outputScale: p.outputScale,
                                         outputZeroPoint: p.outputZeroPoint, QuantizedSpec.lookupFunction(sigmoid: sigmoid))
            return int8Step { k.run($0, $1, count: outCount) }
        case .hardSwish(let p):
            let k = QuantizedHardSwishKernel(inputScale: p.inputScale, inputZeroPoint: p.inputZeroPoint, outputScale: p.outputScale,
                                             outputZeroPoint: p.outputZeroPoint)
            return int8Step { k.run($0, $1, count: outCount) }
        case .concat(let axis, let rescales, let outZp):
            let shapes = inTypes.map(\.shape), outShape = outTypes[0].shape
            return { args in
                let rescaled: [RuntimeTensor] = zip(args, rescales).map { t, r in
                    guard let r else { return t }
                    let x = t.int8s!
                    return .int8(x.withUnsafeBufferPointer { xb in makeArray(x.count) {
                        rescaleInt8(xb.baseAddress!, $0, count: x.count, scale: r.scale, bias: r.bias, outputZeroPoint: outZp)
                    } })
                }
                return [concatenate(rescaled, shapes: shapes, axis: axis, outShape: outShape)]
            }
        }
    }

    /// Quantize, requantize and dequantize nodes that involve uint8.
    static func prepareUInt8(_ node: Node, _ inTypes: [TensorType], _ outTypes: [TensorType]) throws -> Step {
        switch node.op {
        case .quantize(let dtype):
            let qout = try QuantizedSpec.quant(outTypes[0], "the output")
            if inTypes[0].dtype == .float32 {
                return { args in [RuntimeTensor.quantize(args[0].floats!, qout, as: dtype)] }
            }
            // Requantization between integer types: TFLite's Requantize.
            let qin = try QuantizedSpec.quant(inTypes[0], "the input")
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
            let q = try QuantizedSpec.quant(inTypes[0], "the input")
            return { args in [.float(args[0].dequantized(q))] }

        default:
            throw FerccError("\(node.op.name) on quantized tensors is not supported")
        }
    }
}
