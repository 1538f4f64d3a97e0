import FerccIR
import FerccKernels

extension Interpreter {
    typealias FloatStep = ([[Float]]) -> [[Float]]

    static func prepareFloat(_ node: Node, _ graph: Graph, _ inTypes: [TensorType], _ outTypes: [TensorType]) throws -> FloatStep {
        let outCounts = outTypes.map(\.count)
        switch node.op {
        case .conv2D(let c):
            let geo = c.geometry(inTypes[0].shape, outTypes[0].shape)
            let activation = c.activation.kernelActivation  // applied by the kernels
            typealias Run = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
            let makeKernel = { (w: [Float], b: [Float]?) -> (Int, Run) in
                w.withUnsafeBufferPointer { wb in
                    if geo.isDepthwise {
                        let k = b.map { bb in bb.withUnsafeBufferPointer { DepthwiseConv2DKernel(geometry: geo, weights: wb, bias: $0, activation: activation) } }
                            ?? DepthwiseConv2DKernel(geometry: geo, weights: wb, bias: nil, activation: activation)
                        return (k.scratchCount, { k.run(input: $0, output: $1, scratch: $2) })
                    }
                    let k = b.map { bb in bb.withUnsafeBufferPointer { Conv2DKernel(geometry: geo, weights: wb, bias: $0, activation: activation) } }
                        ?? Conv2DKernel(geometry: geo, weights: wb, bias: nil, activation: activation)
                    return (k.scratchCount, { k.run(input: $0, output: $1, scratch: $2) })
                }
            }
            let constW = constant(graph, node.inputs[1])
            let constB = node.inputs.count > 2 ? constant(graph, node.inputs[2]) : nil
            let prepared = constW != nil && (node.inputs.count < 3 || constB != nil) ? makeKernel(constW!, constB) : nil
            return { args in
                let (scratchCount, run) = prepared ?? makeKernel(args[1], args.count > 2 ? args[2] : nil)
                var out = [Float](repeating: 0, count: outCounts[0])
                var scratch = [Float](repeating: 0, count: max(scratchCount, 1))
                args[0].withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { ob in
                        scratch.withUnsafeMutableBufferPointer { sb in run(xb.baseAddress!, ob.baseAddress!, sb.baseAddress!) }
                    }
                }
                return [out]
            }

        case .maxPool2D(let p), .averagePool2D(let p, _):
            let geo = p.geometry(inTypes[0].shape, outTypes[0].shape)
            var kind = Pool2DKernel.Kind.max
            if case .averagePool2D(_, let inc) = node.op { kind = .average(countIncludePad: inc) }
            let k = Pool2DKernel(geometry: geo, kind: kind)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { k.run(input: xb.baseAddress!, output: $0.baseAddress!) } }
                p.activation.apply(&out)
                return [out]
            }

        case .batchNorm(let axis, let epsilon):
            let x = inTypes[0].shape
            let outer = x[..<axis].reduce(1, *), channels = x[axis], inner = x[(axis + 1)...].reduce(1, *)
            func affine(_ p: [[Float]]) -> ([Float], [Float]) {
                let a = batchNormScaleShift(gamma: p[0], beta: p[1], mean: p[2], variance: p[3], epsilon: epsilon)
                return (a.scale.map { Float($0) }, a.shift.map { Float($0) })
            }
            let params = node.inputs[1...].map { constant(graph, $0) }
            let fixed = params.allSatisfy { $0 != nil } ? affine(params.map { $0! }) : nil
            return { args in
                let (scale, shift) = fixed ?? affine(Array(args[1...]))
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { ob in
                        channelAffine(xb.baseAddress!, ob.baseAddress!, scale: scale, shift: shift, outer: outer, channels: channels, inner: inner)
                    }
                }
                return [out]
            }

        case .gemm(let g):
            let a = inTypes[0].shape, b = inTypes[1].shape
            let (m, k) = g.transA ? (a[1], a[0]) : (a[0], a[1])
            let n = g.transB ? b[0] : b[1]
            func prepareB(_ data: [Float]) -> [Float] {
                var bb = g.transB ? transposed2D(data, rows: n, cols: k) : data
                if g.alpha != 1 { for i in bb.indices { bb[i] *= g.alpha } }
                return bb
            }
            let constB = constant(graph, node.inputs[1]).map(prepareB)
            let cShape = inTypes.count > 2 ? inTypes[2].shape : []
            return { args in
                let lhs = g.transA ? transposed2D(args[0], rows: k, cols: m) : args[0]
                let rhs = constB ?? prepareB(args[1])
                var out = [Float](repeating: 0, count: m * n)
                lhs.withUnsafeBufferPointer { ab in rhs.withUnsafeBufferPointer { bb in out.withUnsafeMutableBufferPointer { ob in
                    matmul(ab.baseAddress!, bb.baseAddress!, ob.baseAddress!, m: m, k: k, n: n)
                } } }
                if args.count > 2, g.beta != 0 {
                    var c = args[2]
                    if g.beta != 1 { for i in c.indices { c[i] *= g.beta } }
                    let acc = out
                    acc.withUnsafeBufferPointer { ab in c.withUnsafeBufferPointer { cb in out.withUnsafeMutableBufferPointer { ob in
                        binaryBroadcast(.add, ab.baseAddress!, [m, n], cb.baseAddress!, cShape, ob.baseAddress!, [m, n])
                    } } }
                }
                g.activation.apply(&out)
                return [out]
            }

        case .matMul:
            var a = inTypes[0].shape, b = inTypes[1].shape
            if a.count == 1 { a = [1] + a }
            if b.count == 1 { b = b + [1] }
            let m = a[a.count - 2], k = a[a.count - 1], n = b[b.count - 1]
            let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
            let batch = ShapeInference.broadcastShapes(batchA, batchB)!
            let sa = broadcastStrides(batchA, to: batch), sb = broadcastStrides(batchB, to: batch)
            let batches = batch.reduce(1, *)
            let bStrides = contiguousStrides(batch)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { ab in args[1].withUnsafeBufferPointer { bb in out.withUnsafeMutableBufferPointer { ob in
                    for i in 0..<batches {
                        var offA = 0, offB = 0, rem = i
                        for axis in 0..<batch.count {
                            let idx = rem / bStrides[axis]
                            rem %= bStrides[axis]
                            offA += idx * sa[axis]; offB += idx * sb[axis]
                        }
                        matmul(ab.baseAddress! + offA * m * k, bb.baseAddress! + offB * k * n, ob.baseAddress! + i * m * n, m: m, k: k, n: n)
                    }
                } } }
                return [out]
            }

        case .binary(let op, let activation):
            let kind: BinaryKind
            switch op {
            case .add: kind = .add
            case .sub: kind = .sub
            case .mul: kind = .mul
            case .div: kind = .div
            }
            let sa = inTypes[0].shape, sb = inTypes[1].shape, so = outTypes[0].shape
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { ab in args[1].withUnsafeBufferPointer { bb in out.withUnsafeMutableBufferPointer { ob in
                    binaryBroadcast(kind, ab.baseAddress!, sa, bb.baseAddress!, sb, ob.baseAddress!, so)
                } } }
                activation.apply(&out)
                return [out]
            }

        case .unary(let u):
            let act = activation(u)
            return { args in
                var out = args[0]
                let n = out.count
                out.withUnsafeMutableBufferPointer { ob in act.run(ob.baseAddress!, ob.baseAddress!, count: n) }
                return [out]
            }

        case .prelu:
            let sx = inTypes[0].shape, ss = inTypes[1].shape
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in args[1].withUnsafeBufferPointer { sb in out.withUnsafeMutableBufferPointer { ob in
                    prelu(xb.baseAddress!, sx, sb.baseAddress!, ss, ob.baseAddress!)
                } } }
                return [out]
            }

        case .reduce(let kind, let axes, _):
            let sx = inTypes[0].shape
            let operation: ReduceOperation
            switch kind {
            case .mean: operation = .mean
            case .max: operation = .max
            case .sum: operation = .sum
            }
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    reduce(xb.baseAddress!, sx, axes: axes, operation, ob.baseAddress!)
                } }
                return [out]
            }

        case .softmax(let axis, let beta):
            let x = inTypes[0].shape
            let outer = x[..<axis].reduce(1, *), len = x[axis], inner = x[(axis + 1)...].reduce(1, *)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    softmax(xb.baseAddress!, ob.baseAddress!, outer: outer, axis: len, inner: inner, beta: beta)
                } }
                return [out]
            }

        case .resize2D(let r):
            let x = inTypes[0].shape
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    resizeNHWC(xb.baseAddress!, ob.baseAddress!, batch: x[0], inH: x[1], inW: x[2], channels: x[3],
                               outH: r.outH, outW: r.outW, bilinear: r.bilinear, alignCorners: r.alignCorners, halfPixelCenters: r.halfPixelCenters)
                } }
                return [out]
            }

        case .depthwisePointwise(let dw, let pw, _):
            let dwGeo = dw.geometry(inTypes[0].shape, try ShapeInference.infer(.conv2D(dw), inputs: Array(inTypes[0...2]))[0].shape)
            guard dwGeo.isDepthwise else { throw FerccError("DepthwisePointwise needs a depthwise first convolution") }
            let params = node.inputs[1...].map { constant(graph, $0) }
            guard params.allSatisfy({ $0 != nil }) else { throw FerccError("DepthwisePointwise needs constant weights and biases") }
            let (dwW, dwB, pwW, pwB) = (params[0]!, params[1]!, params[2]!, params[3]!)
            let outC = inTypes[3].shape[0]
            let k = dwW.withUnsafeBufferPointer { a in dwB.withUnsafeBufferPointer { b in pwW.withUnsafeBufferPointer { c in pwB.withUnsafeBufferPointer { d in
                DepthwisePointwiseKernel(depthwise: dwGeo, depthwiseWeights: a, depthwiseBias: b, depthwiseActivation: dw.activation.kernelActivation,
                                         pointwiseWeights: c, pointwiseBias: d, outChannels: outC, pointwiseActivation: pw.activation.kernelActivation)
            } } } }
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                var scratch = [Float](repeating: 0, count: max(k.scratchCount, 1))
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in scratch.withUnsafeMutableBufferPointer { sb in
                    k.run(input: xb.baseAddress!, output: ob.baseAddress!, scratch: sb.baseAddress!)
                } } }
                return [out]
            }

        case .expandDepthwisePointwise(let ex, let dw, let pw):
            let expanded = try ShapeInference.infer(.conv2D(ex), inputs: Array(inTypes[0...2]))[0]
            let dwGeo = dw.geometry(expanded.shape, try ShapeInference.infer(.conv2D(dw), inputs: [expanded, inTypes[3], inTypes[4]])[0].shape)
            guard dwGeo.isDepthwise else { throw FerccError("ExpandDepthwisePointwise needs a depthwise middle convolution") }
            let params = node.inputs[1...].map { constant(graph, $0) }
            guard params.allSatisfy({ $0 != nil }) else { throw FerccError("ExpandDepthwisePointwise needs constant weights and biases") }
            let p = params.map { $0! }
            let inC = inTypes[0].shape[3], outC = inTypes[5].shape[0]
            let k = p[0].withUnsafeBufferPointer { ew in p[1].withUnsafeBufferPointer { eb in p[2].withUnsafeBufferPointer { dwW in
                p[3].withUnsafeBufferPointer { dwB in p[4].withUnsafeBufferPointer { pwW in p[5].withUnsafeBufferPointer { pwB in
                    ExpandDepthwisePointwiseKernel(expandWeights: ew, expandBias: eb, expandActivation: ex.activation.kernelActivation, inChannels: inC,
                                                   depthwise: dwGeo, depthwiseWeights: dwW, depthwiseBias: dwB, depthwiseActivation: dw.activation.kernelActivation,
                                                   pointwiseWeights: pwW, pointwiseBias: pwB, outChannels: outC, pointwiseActivation: pw.activation.kernelActivation)
                } } }
            } } }
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                var scratch = [Float](repeating: 0, count: max(k.scratchCount, 1))
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in scratch.withUnsafeMutableBufferPointer { sb in
                    k.run(input: xb.baseAddress!, output: ob.baseAddress!, scratch: sb.baseAddress!)
                } } }
                return [out]
            }

        case .reshape, .transpose, .concat, .split, .slice, .pad, .quantize, .dequantize, .channelShuffle:
            throw FerccError("\(node.op.name) reached the float path")  // handled by prepareDataMovement / prepareQuantized
        }
    }

    static func activation(_ u: UnaryOp) -> Activation {
        switch u {
        case .identity: return .identity
        case .relu: return .relu
        case .clip(let lo, let hi): return .clip(min: lo, max: hi)
        case .leakyRelu(let a): return .leakyRelu(alpha: a)
        case .sigmoid: return .sigmoid
        case .hardSigmoid(let a, let b): return .hardSigmoid(alpha: a, beta: b)
        case .hardSwish: return .hardSwish
        case .tanh: return .tanh
        }
    }
}
