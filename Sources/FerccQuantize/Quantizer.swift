import FerccIR
import FerccKernels
import FerccRuntime

/// Options of post-training quantization.
public struct QuantizeOptions: Sendable {
    public var method: CalibrationMethod = .minmax
    public var percentile: Double = 99.99
    /// One weight scale per tensor instead of per output channel.
    public var perTensor = false
    /// How each weight slice's scale is chosen (`WeightClipping`).
    public var weightClipping = WeightClipping.none
    /// Nodes (by name) kept in float32.
    public var exclude: Set<String> = []
    /// Keep the layer that computes the model's output (the classifier) in float32, with the
    /// global mean pool before it (`outputLayers`): it holds a tiny share of the MACs and
    /// weights, and quantizing its output to 256 levels is the largest single error of the int8
    /// model (measured on MobileNetV2: mean |error| 0.00137 -> 0.00101).
    public var floatOutputLayer = true
    /// int8 weights chosen before quantizing (by node name, in the layout `addWeights` quantizes:
    /// `ErrorCompensatedRounding`), used with their scales instead of nearest rounding.
    public var roundedWeights: [String: RoundedWeights] = [:]
    /// How the int8 graph computes: `fercc` (int8 adds requantized in float32), or `tflite`
    /// (TFLite's reference kernels bit for bit, as for an imported int8 model).
    public var arithmetic = Int8Arithmetic.fercc

    public init() {}
}

/// Builds an int8 graph from a float graph and activation ranges, with TFLite's scheme:
/// asymmetric per-tensor int8 activations, symmetric int8 weights (per output channel unless
/// `perTensor`), int32 biases at input scale x weight scale. Ops without an int8 kernel, and
/// excluded nodes, stay float with quantize/dequantize nodes at the boundaries (mixed precision).
/// An int8 value keeps its float value's name with "#q" appended, so that reports can compare them.
public struct Quantizer {
    let source: Graph
    let ranges: [String: (lo: Float, hi: Float)]
    let options: QuantizeOptions
    var graph: Graph
    /// Names of the int8 versions of float values that exist in the new graph.
    var int8Version: [String: String] = [:]
    /// Float values that exist in the new graph under their own name.
    var floatAvailable: Set<String> = []
    /// Values quantized with another value's range: see `concatenated`.
    var rangeOf: [String: String] = [:]
    public private(set) var floatNodes: [String] = []

    public static func quantize(_ g: Graph, ranges: [String: (lo: Float, hi: Float)], options: QuantizeOptions) throws
        -> (graph: Graph, floatNodes: [String])
    {
        var q = Quantizer(source: g, ranges: ranges, options: options, graph: Graph(source: g.source))
        q.graph.int8Arithmetic = options.arithmetic
        try q.run()
        return (q.graph, q.floatNodes)
    }

    /// Activation quantization for a range: scale (hi - lo) / 255, zero point so that lo maps to
    /// -128; ranges are widened to contain 0 and never empty (a constant or all-zero tensor gets a
    /// finite positive scale).
    public static func activationQuantization(_ r: (lo: Float, hi: Float)) -> Quantization {
        var lo = Double(Swift.min(r.lo, 0)), hi = Double(Swift.max(r.hi, 0))
        if !(hi - lo > 1e-8) { lo = Swift.min(lo, 0); hi = lo + 1e-8 * 255 }
        let scale = (hi - lo) / 255
        let zp = Swift.min(Swift.max((-128 - lo / scale).rounded(), -128), 127)
        return Quantization(scale: Float(scale), zeroPoint: Int32(zp))
    }

    /// The convolution or Gemm that computes each graph output, with the element moves, mean and
    /// softmax between it and the output (they stay float with it), and the mean (a global average
    /// pool) that feeds it through element moves: rounding the pooled features to 256 levels was
    /// the largest error left before the classifier (ShuffleNetV2, 32 random inputs: mean |error|
    /// 0.00053 -> 0.00030), for a few microseconds of float mean over the dequantized features.
    public static func outputLayers(_ g: Graph) -> Set<String> {
        let producers = g.producers()
        func meanBefore(_ value: String) -> String? {
            var v = value
            while let p = producers[v] {
                switch g.nodes[p].op {
                case .reshape, .transpose: v = g.nodes[p].inputs[0]
                case .reduce(.mean, _, _): return g.nodes[p].name
                default: return nil
                }
            }
            return nil
        }
        var result: Set<String> = []
        for out in g.outputs {
            var v = out
            var tail: [String] = []
            while let p = producers[v] {
                let n = g.nodes[p]
                switch n.op {
                case .conv2D, .gemm:
                    result.insert(n.name)
                    result.formUnion(tail)
                    if let pool = meanBefore(n.inputs[0]) { result.insert(pool) }
                case .reshape, .transpose, .softmax, .reduce(.mean, _, _):
                    tail.append(n.name)
                    v = n.inputs[0]
                    continue
                default:
                    break
                }
                break
            }
        }
        return result
    }

    /// Each value whose only reader is a Concat, directly or through Reshapes that only it reads,
    /// mapped to the Concat's output: quantized with the concatenation's range, it is rounded once,
    /// where the producer requantizes, and copied without a rescale (ShuffleNetV2's branch ends).
    /// With its own range it was rounded twice (to its scale, then to the concatenation's) and
    /// clamped to the same bounds: this is never less exact.
    static func concatenated(_ g: Graph, exclude: Set<String>) -> [String: String] {
        var readers: [String: Int] = [:]
        for n in g.nodes { for x in n.inputs { readers[x, default: 0] += 1 } }
        for x in g.outputs { readers[x, default: 0] += 1 }
        let producers = g.producers()
        var result: [String: String] = [:]
        for n in g.nodes where !exclude.contains(n.name) {
            guard case .concat = n.op else { continue }
            for x in n.inputs {
                var v = x
                while readers[v] == 1, g.values[v]?.isConstant == false {
                    result[v] = n.outputs[0]
                    guard let p = producers[v], case .reshape = g.nodes[p].op, !exclude.contains(g.nodes[p].name)
                    else { break }
                    v = g.nodes[p].inputs[0]
                }
            }
        }
        return result
    }

    mutating func run() throws {
        var exclude = options.exclude
        if options.floatOutputLayer { exclude.formUnion(Self.outputLayers(source)) }
        rangeOf = Self.concatenated(source, exclude: exclude)
        for name in source.inputs {
            graph.values[name] = source.values[name]
            graph.inputs.append(name)
            floatAvailable.insert(name)
        }
        for node in source.nodes {
            do {
                if !exclude.contains(node.name), try emitInt8(node) { continue }
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
            try emitFloat(node)
        }
        for out in source.outputs {
            graph.outputs.append(try floatValue(out))
        }
        try graph.validate()
    }

    // MARK: values in either domain

    /// The calibration range `name` is quantized with (its own, or a concatenation's).
    func range(_ name: String) throws -> (lo: Float, hi: Float) {
        let name = rangeOf[name] ?? name
        guard let r = ranges[name] else { throw FerccError("no calibration range for '\(name)'") }
        return r
    }

    /// The int8 version of a float value, adding a quantize node if it does not exist yet.
    mutating func int8Value(_ name: String) throws -> String {
        if let q = int8Version[name] { return q }
        let q = name + "#q"
        if let c = source.values[name]?.constant {
            // A constant operand (of an add, say): quantized per tensor from its own range.
            let v = c.floats
            let qz = Self.activationQuantization((v.min() ?? 0, v.max() ?? 0))
            let data = v.map { Int8(Swift.min(Swift.max(($0 / qz.scale).rounded() + Float(qz.zeroPoint), -128), 127)) }
            graph.addConstant(q, .int8(data), shape: source.values[name]!.type.shape)
            graph.values[q]!.type.quantization = qz
        } else {
            let f = try floatValue(name)
            try graph.addNode(
                Node(name: q, op: .quantize(to: .int8), inputs: [f], outputs: [q]),
                quantization: [Self.activationQuantization(try range(name))])
        }
        int8Version[name] = q
        return q
    }

    /// The float version of a value, adding a dequantize node if only the int8 one exists.
    mutating func floatValue(_ name: String) throws -> String {
        if floatAvailable.contains(name) { return name }
        if let c = source.values[name], c.isConstant {
            graph.values[name] = c
            floatAvailable.insert(name)
            return name
        }
        guard let q = int8Version[name] else { throw FerccError("'\(name)' is used before it is computed") }
        try graph.addNode(Node(name: name + "#dequantize", op: .dequantize, inputs: [q], outputs: [name]))
        floatAvailable.insert(name)
        return name
    }

    func isInt8(_ name: String) -> Bool { int8Version[name] != nil }

    mutating func emitFloat(_ node: Node) throws {
        let inputs = try node.inputs.map { try floatValue($0) }
        try graph.addNode(Node(name: node.name, op: node.op, inputs: inputs, outputs: node.outputs))
        for o in node.outputs { floatAvailable.insert(o) }
        floatNodes.append(node.name)
    }

    /// Adds an int8 node producing the int8 versions of `node`'s outputs with `quantization`.
    mutating func addInt8(_ node: Node, op: Op? = nil, inputs: [String], quantization: [Quantization]) throws {
        let outs = node.outputs.map { $0 + "#q" }
        try graph.addNode(
            Node(name: node.name, op: op ?? node.op, inputs: inputs, outputs: outs), quantization: quantization)
        for (o, q) in zip(node.outputs, outs) { int8Version[o] = q }
    }

    mutating func addWeights(_ name: String, _ w: [Float], shape: [Int], node: String) -> (String, [Float]) {
        let slices = options.perTensor ? 1 : shape[0]
        let (data, q): ([Int8], Quantization)
        if let rounded = options.roundedWeights[node], rounded.levels.count == w.count,
            rounded.quantization.scales.count == slices
        {
            (data, q) = (rounded.levels, rounded.quantization)
        } else {
            (data, q) = WeightQuantization.symmetric(w, slices: slices, clipping: options.weightClipping)
        }
        let name = name + "#q"
        if graph.values[name] == nil {
            graph.addConstant(name, .int8(data), shape: shape)
            graph.values[name]!.type.quantization = q
        }
        return (name, q.scales)
    }

    mutating func addBias(_ name: String, _ b: [Float], inputScale: Float, weightScales: [Float]) -> String {
        let name = graph.freshName(name + "#q")
        let (data, q) = WeightQuantization.bias(b, inputScale: inputScale, weightScales: weightScales)
        graph.addConstant(name, .int32(data), shape: [b.count])
        graph.values[name]!.type.quantization = q
        return name
    }

    func constant(_ name: String) -> [Float]? { source.values[name]?.constant?.floats }

    /// Emits `node` in int8 if there is an int8 kernel for it; false leaves it to `emitFloat`.
    mutating func emitInt8(_ node: Node) throws -> Bool {
        let out = node.outputs[0]
        func outputQ() throws -> Quantization { Self.activationQuantization(try range(out)) }
        switch node.op {
        case .conv2D(let c):
            guard node.inputs.count >= 2, let w = constant(node.inputs[1]), c.activation.range != nil else {
                return false
            }
            if node.inputs.count > 2, constant(node.inputs[2]) == nil { return false }
            let x = try int8Value(node.inputs[0])
            let qin = graph.values[x]!.type.quantization!
            let shape = source.values[node.inputs[1]]!.type.shape
            let (wq, scales) = addWeights(node.inputs[1], w, shape: shape, node: node.name)
            var inputs = [x, wq]
            if node.inputs.count > 2 {
                inputs.append(
                    addBias(node.inputs[2], constant(node.inputs[2])!, inputScale: qin.scale, weightScales: scales))
            }
            try addInt8(node, inputs: inputs, quantization: [try outputQ()])
            return true

        case .gemm(let g):
            guard !g.transA, g.activation.range != nil, let w = constant(node.inputs[1]) else { return false }
            let (b, n, k) = g.outputRows(w, shape: source.values[node.inputs[1]]!.type.shape)
            var bias: [Float]? = nil
            if node.inputs.count > 2, g.beta != 0 {
                guard let c = constant(node.inputs[2]), c.count == n || c.count == 1 else { return false }
                bias = (c.count == 1 ? [Float](repeating: c[0], count: n) : c).map { $0 * g.beta }
            }
            guard source.values[node.inputs[0]]!.type.rank == 2 else { return false }
            let x = try int8Value(node.inputs[0])
            let qin = graph.values[x]!.type.quantization!
            let (wq, scales) = addWeights(graph.freshName(node.inputs[1] + "#nk"), b, shape: [n, k], node: node.name)
            var inputs = [x, wq]
            if let bias {
                inputs.append(
                    addBias(
                        node.inputs.count > 2 ? node.inputs[2] : node.name + "#bias", bias, inputScale: qin.scale,
                        weightScales: scales))
            }
            try addInt8(
                node, op: .gemm(Gemm(transB: true, activation: g.activation)), inputs: inputs,
                quantization: [try outputQ()])
            return true

        case .binary(let op, let activation):
            guard op != .div, activation.range != nil else { return false }
            let ranks = node.inputs.map { source.values[$0]!.type.rank }
            guard ranks[0] == ranks[1] || source.values[node.inputs[1]]!.type.count == 1 else { return false }
            let a = try int8Value(node.inputs[0]), b = try int8Value(node.inputs[1])
            try addInt8(node, inputs: [a, b], quantization: [try outputQ()])
            return true

        case .maxPool2D(let p), .averagePool2D(let p, _):
            guard p.activation == .identity || p.activation.range != nil else { return false }
            if case .averagePool2D(_, let includePad) = node.op, includePad,
                p.padTop + p.padLeft + p.padBottom + p.padRight > 0
            {
                return false
            }
            let x = try int8Value(node.inputs[0])
            // The int8 pooling kernels keep the input's quantization.
            try addInt8(node, inputs: [x], quantization: [graph.values[x]!.type.quantization!])
            return true

        case .reduce(.mean, _, _):
            let x = try int8Value(node.inputs[0])
            try addInt8(node, inputs: [x], quantization: [try outputQ()])
            return true

        case .softmax(let axis, _):
            guard axis == source.values[node.inputs[0]]!.type.rank - 1 else { return false }
            let x = try int8Value(node.inputs[0])
            try addInt8(node, inputs: [x], quantization: [Quantization(scale: 1.0 / 256, zeroPoint: -128)])
            return true

        case .concat:
            let xs = try node.inputs.map { try int8Value($0) }
            try addInt8(node, inputs: xs, quantization: [try outputQ()])
            return true

        case .unary(.sigmoid), .unary(.tanh), .unary(.hardSwish):
            let x = try int8Value(node.inputs[0])
            try addInt8(node, inputs: [x], quantization: [try outputQ()])
            return true

        case .reshape, .transpose, .slice, .split, .channelShuffle, .pad:
            // Element moves stay int8 when their input already is (same quantization out).
            guard isInt8(node.inputs[0]) else { return false }
            let x = try int8Value(node.inputs[0])
            let q = graph.values[x]!.type.quantization!
            let extra = Array(node.inputs.dropFirst())
            guard extra.allSatisfy({ source.values[$0]?.isConstant == true }) else { return false }
            for e in extra { _ = try floatValue(e) }
            try addInt8(node, inputs: [x] + extra, quantization: node.outputs.map { _ in q })
            return true

        default:
            return false
        }
    }
}

extension Gemm {
    /// Weights `b` of shape `shape` as rows of the `n` outputs over the depth `k`, times alpha: the
    /// layout fercc's int8 Gemm quantizes (and bias correction and GPTQ work in).
    func outputRows(_ b: [Float], shape: [Int]) -> (rows: [Float], n: Int, k: Int) {
        let (k, n) = transB ? (shape[1], shape[0]) : (shape[0], shape[1])
        var rows = transB ? b : transposed2D(b, rows: k, cols: n)
        if alpha != 1 { rows = rows.map { $0 * alpha } }
        return (rows, n, k)
    }
}
