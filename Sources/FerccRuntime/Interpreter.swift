import FerccIR
import FerccKernels

/// Runs an IR graph in fp32 with the Kernels target. Weights are packed once at init, so one
/// interpreter serves many inferences (calibration runs hundreds). Activations are freed after
/// their last use.
public final class Interpreter {
    public let graph: Graph
    typealias Step = ([[Float]]) -> [[Float]]
    private var steps: [Step] = []
    /// For each node, the values whose last reader it is.
    private var releases: [[String]] = []

    public init(graph: Graph) throws {
        self.graph = graph
        for node in graph.nodes {
            do {
                steps.append(try Self.prepare(node, graph))
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
        }
        var lastUse: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for input in n.inputs { lastUse[input] = i } }
        releases = Array(repeating: [], count: graph.nodes.count)
        let keep = Set(graph.outputs)
        for (name, i) in lastUse where !keep.contains(name) && graph.values[name]?.isConstant == false {
            releases[i].append(name)
        }
    }

    /// Runs one inference. `inputs` maps graph input names to row-major float data of their type.
    public func run(_ inputs: [String: [Float]]) throws -> [String: [Float]] {
        var env: [String: [Float]] = [:]
        for name in graph.inputs {
            guard let data = inputs[name] else { throw FerccError("missing input '\(name)'") }
            let t = graph.values[name]!.type
            guard data.count == t.count else {
                throw FerccError("input '\(name)' has \(data.count) elements, the model expects \(t) (\(t.count))")
            }
            env[name] = data
        }
        for name in inputs.keys where !graph.inputs.contains(name) {
            throw FerccError("'\(name)' is not an input of the model (inputs: \(graph.inputs.joined(separator: ", ")))")
        }
        for (i, node) in graph.nodes.enumerated() {
            let args = node.inputs.map { name -> [Float] in
                if let v = env[name] { return v }
                return graph.values[name]!.constant!.floats
            }
            let outs = steps[i](args)
            for (name, data) in zip(node.outputs, outs) { env[name] = data }
            for name in releases[i] { env[name] = nil }
        }
        var result: [String: [Float]] = [:]
        for name in graph.outputs {
            result[name] = env[name] ?? graph.values[name]?.constant?.floats ?? []
        }
        return result
    }

    static func constant(_ graph: Graph, _ name: String) -> [Float]? {
        graph.values[name]?.constant?.floats
    }

    static func prepare(_ node: Node, _ graph: Graph) throws -> Step {
        let inTypes = node.inputs.map { graph.values[$0]!.type }
        let outTypes = node.outputs.map { graph.values[$0]!.type }
        for t in inTypes + outTypes where t.dtype != .float32 {
            // int64 values exist only as constants folded at import.
            if !node.inputs.allSatisfy({ graph.values[$0]?.isConstant == true }) {
                throw FerccError("\(node.op.name) on \(t.dtype.rawValue) tensors is not supported at run time")
            }
        }
        let outCounts = outTypes.map(\.count)
        switch node.op {
        case .conv2D(let c):
            let x = inTypes[0].shape, y = outTypes[0].shape
            let geo = Conv2DGeometry(batch: x[0], inH: x[1], inW: x[2], inC: x[3], outH: y[1], outW: y[2], outC: y[3],
                                     kernelH: c.kernelH, kernelW: c.kernelW, strideH: c.strideH, strideW: c.strideW,
                                     dilationH: c.dilationH, dilationW: c.dilationW,
                                     padTop: c.padTop, padLeft: c.padLeft, padBottom: c.padBottom, padRight: c.padRight,
                                     groups: c.groups)
            let makeKernel = { (w: [Float], b: [Float]?) -> (Int, (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) in
                w.withUnsafeBufferPointer { wb in
                    let run: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
                    let scratch: Int
                    if geo.isDepthwise {
                        let k = b.map { bb in bb.withUnsafeBufferPointer { DepthwiseConv2DKernel(geometry: geo, weights: wb, bias: $0) } }
                            ?? DepthwiseConv2DKernel(geometry: geo, weights: wb, bias: nil)
                        scratch = k.scratchCount
                        run = { k.run(input: $0, output: $1, scratch: $2) }
                    } else {
                        let k = b.map { bb in bb.withUnsafeBufferPointer { Conv2DKernel(geometry: geo, weights: wb, bias: $0) } }
                            ?? Conv2DKernel(geometry: geo, weights: wb, bias: nil)
                        scratch = k.scratchCount
                        run = { k.run(input: $0, output: $1, scratch: $2) }
                    }
                    return (scratch, run)
                }
            }
            let constW = constant(graph, node.inputs[1])
            let constB = node.inputs.count > 2 ? constant(graph, node.inputs[2]) : nil
            let biasIsConst = node.inputs.count < 3 || constB != nil
            let prepared = constW != nil && biasIsConst ? makeKernel(constW!, constB) : nil
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
            let x = inTypes[0].shape, y = outTypes[0].shape
            let geo = Conv2DGeometry(batch: x[0], inH: x[1], inW: x[2], inC: x[3], outH: y[1], outW: y[2], outC: y[3],
                                     kernelH: p.kernelH, kernelW: p.kernelW, strideH: p.strideH, strideW: p.strideW,
                                     dilationH: p.dilationH, dilationW: p.dilationW,
                                     padTop: p.padTop, padLeft: p.padLeft, padBottom: p.padBottom, padRight: p.padRight, groups: 1)
            var kind = Pool2DKernel.Kind.max
            if case .averagePool2D(_, let inc) = node.op { kind = .average(countIncludePad: inc) }
            let k = Pool2DKernel(geometry: geo, kind: kind)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { k.run(input: xb.baseAddress!, output: $0.baseAddress!) } }
                return [out]
            }

        case .batchNorm(let axis, let epsilon):
            let x = inTypes[0].shape
            let outer = x[..<axis].reduce(1, *), channels = x[axis], inner = x[(axis + 1)...].reduce(1, *)
            func affine(_ p: [[Float]]) -> ([Float], [Float]) {
                let (gamma, beta, mean, variance) = (p[0], p[1], p[2], p[3])
                var scale = [Float](repeating: 0, count: channels), shift = scale
                for c in 0..<channels {
                    let s = Double(gamma[c]) / (Double(variance[c]) + Double(epsilon)).squareRoot()
                    scale[c] = Float(s)
                    shift[c] = Float(Double(beta[c]) - Double(mean[c]) * s)
                }
                return (scale, shift)
            }
            let params = node.inputs[1...].map { constant(graph, $0) }
            let fixed = params.allSatisfy { $0 != nil } ? affine(params.map { $0! }) : nil
            return { args in
                let (scale, shift) = fixed ?? affine(Array(args[1...]))
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { ob in
                        channelAffine(xb.baseAddress!, ob.baseAddress!, scale: scale, shift: shift,
                                      outer: outer, channels: channels, inner: inner)
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

        case .binary(let op):
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
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    reduce(xb.baseAddress!, sx, axes: axes, mean: kind == .mean, ob.baseAddress!)
                } }
                return [out]
            }

        case .softmax(let axis):
            let x = inTypes[0].shape
            let outer = x[..<axis].reduce(1, *), len = x[axis], inner = x[(axis + 1)...].reduce(1, *)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    softmax(xb.baseAddress!, ob.baseAddress!, outer: outer, axis: len, inner: inner)
                } }
                return [out]
            }

        case .reshape:
            return { args in [args[0]] }

        case .transpose(let perm):
            let sx = inTypes[0].shape
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    transpose(xb.baseAddress!, sx, perm: perm, ob.baseAddress!)
                } }
                return [out]
            }

        case .concat(let axis):
            let shapes = inTypes.map(\.shape)
            let so = outTypes[0].shape
            let outStrides = contiguousStrides(so)
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                out.withUnsafeMutableBufferPointer { ob in
                    var offset = 0
                    for (data, shape) in zip(args, shapes) {
                        data.withUnsafeBufferPointer { xb in
                            stridedCopy(xb.baseAddress!, contiguousStrides(shape), ob.baseAddress! + offset * outStrides[axis], outStrides, shape)
                        }
                        offset += shape[axis]
                    }
                }
                return [out]
            }

        case .split(let axis, _):
            let sx = inTypes[0].shape
            let inStrides = contiguousStrides(sx)
            let shapes = outTypes.map(\.shape)
            return { args in
                var outs: [[Float]] = []
                var offset = 0
                args[0].withUnsafeBufferPointer { xb in
                    for shape in shapes {
                        var out = [Float](repeating: 0, count: shape.reduce(1, *))
                        out.withUnsafeMutableBufferPointer { ob in
                            stridedCopy(xb.baseAddress! + offset * inStrides[axis], inStrides, ob.baseAddress!, contiguousStrides(shape), shape)
                        }
                        outs.append(out)
                        offset += shape[axis]
                    }
                }
                return outs
            }

        case .slice(let s):
            let inStrides = contiguousStrides(inTypes[0].shape)
            let base = zip(s.starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let strides = zip(s.steps, inStrides).map { $0 * $1 }
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                if outCounts[0] > 0 {
                    args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                        stridedCopy(xb.baseAddress! + base, strides, ob.baseAddress!, contiguousStrides(s.sizes), s.sizes)
                    } }
                }
                return [out]
            }

        case .pad(let pads, let value):
            let sx = inTypes[0].shape
            return { args in
                var out = [Float](repeating: 0, count: outCounts[0])
                args[0].withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
                    pad(xb.baseAddress!, sx, pads: pads, value: value, ob.baseAddress!)
                } }
                return [out]
            }
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

func transposed2D(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}
