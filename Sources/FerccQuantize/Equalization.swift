import FerccIR
import FerccKernels
import FerccRuntime

/// Cross-layer equalization before calibration (Nagel et al. 2019, "Data-Free Quantization Through
/// Weight Equalization and Bias Correction"), with the channel ranges of the value between the two
/// layers measured on the calibration data instead of inferred from weights.
///
/// A convolution P (any groups, no activation or ReLU, which commute with a positive scale) whose
/// output V feeds only a convolution Q can have each channel c of V divided by s_c, P's output
/// channel c (weights and bias) divided by s_c and Q's input channel c multiplied by s_c, leaving
/// the float model's outputs as they were. int8 quantizes V with one range for all channels, so
/// channels far below the widest lose most of their levels (in depthwise-separable nets the
/// depthwise outputs differ by 100x); weights are quantized per output channel, so scaling P's
/// rows, or a depthwise Q's, costs nothing, while scaling a dense Q's input columns coarsens
/// their share of its per-row range. Hence s_c = R_c / R_max when Q is depthwise (every channel of
/// V then spans the widest one's range) and sqrt(R_c / R_max) otherwise (the balance point of the
/// two errors, as the paper's sqrt(r1 r2) rule), R_c = max |V_c| over the calibration samples.
public enum ChannelEqualization {
    /// One equalized pair: the producer, the consumer and the smallest scale applied.
    public struct Pair: Equatable, Sendable {
        public var producer: String
        public var consumer: String
        public var smallestScale: Float
    }

    /// The scale never goes below this: a channel that calibration barely saw stays near its range.
    static let floor: Float = 1.0 / 1024

    /// Equalizes every eligible pair of `graph` with ranges measured on `samples` (inputs of the
    /// graph's first input); returns the pairs changed.
    public static func apply(_ graph: inout Graph, samples: [[Float]]) throws -> [Pair] {
        let candidates = pairs(graph)
        guard !candidates.isEmpty, !samples.isEmpty else { return [] }
        let ranges = try channelRanges(graph, values: Set(candidates.map(\.value)), samples: samples)
        var changed: [Pair] = []
        for c in candidates {
            guard let r = ranges[c.value], let widest = r.max(), widest > 0, widest.isFinite else { continue }
            let scales = r.map { range -> Float in
                guard range > 0 else { return 1 }
                let ratio = range / widest
                return Swift.max(c.consumerIsDepthwise ? ratio : ratio.squareRoot(), floor)
            }
            guard scales.contains(where: { $0 < 1 }) else { continue }
            rescale(&graph, pair: c, scales: scales)
            changed.append(
                Pair(producer: c.producer.name, consumer: c.consumer.name, smallestScale: scales.min() ?? 1))
        }
        graph.removeDeadCode()  // the constants the rescaled ones replaced
        return changed
    }

    struct Candidate {
        var producer: Node
        var consumer: Node
        var value: String
        var consumerIsDepthwise: Bool
    }

    /// Producer/consumer convolution pairs joined by a value nothing else reads, with constant
    /// float weights (and bias), the producer's activation identity or ReLU, and the consumer
    /// dense (groups 1) or depthwise (one input channel per group, as many groups as channels).
    static func pairs(_ g: Graph) -> [Candidate] {
        var readers: [String: [Node]] = [:]
        for n in g.nodes { for i in Set(n.inputs) { readers[i, default: []].append(n) } }
        func floatConstant(_ name: String) -> Bool {
            guard let v = g.values[name], case .float = v.constant else { return false }
            return true
        }
        var out: [Candidate] = []
        for p in g.nodes {
            guard case .conv2D(let pc) = p.op, pc.activation == .identity || pc.activation == .relu,
                p.inputs.count >= 2, p.outputs.count == 1, p.inputs.dropFirst().allSatisfy(floatConstant)
            else { continue }
            let v = p.outputs[0]
            guard !g.outputs.contains(v), let rs = readers[v], rs.count == 1, let q = rs.first,
                case .conv2D(let qc) = q.op, q.inputs.first == v, q.inputs.dropFirst().allSatisfy({ $0 != v }),
                q.inputs.count >= 2, q.inputs.dropFirst().allSatisfy(floatConstant),
                let channels = g.values[v]?.type.shape.last, channels > 1,
                let qw = g.values[q.inputs[1]]?.type.shape, qw.count == 4
            else { continue }
            let depthwise = qc.groups == channels && qw[0] == channels && qw[3] == 1
            guard qc.groups == 1 || depthwise, qc.groups != 1 || qw[3] == channels else { continue }
            out.append(Candidate(producer: p, consumer: q, value: v, consumerIsDepthwise: depthwise))
        }
        return out
    }

    /// max |v| per channel (the last axis) of each of `values` over the samples.
    static func channelRanges(_ g: Graph, values: Set<String>, samples: [[Float]]) throws -> [String: [Float]] {
        let interpreter = try Interpreter(graph: g)
        var ranges: [String: [Float]] = [:]
        for s in samples {
            let computed = try interpreter.run(tensors: [g.inputs[0]: .float(s)], keepingAll: true)
            for name in values {
                guard case .float(let v)? = computed[name], let c = g.values[name]?.type.shape.last, c > 0 else {
                    continue
                }
                var r = ranges[name] ?? [Float](repeating: 0, count: c)
                for i in v.indices where v[i].isFinite { r[i % c] = Swift.max(r[i % c], Swift.abs(v[i])) }
                ranges[name] = r
            }
        }
        return ranges
    }

    /// Divides the producer's output channel c by scales[c] and multiplies the consumer's input
    /// channel c by it, in new constants (the old ones may have other readers).
    static func rescale(_ g: inout Graph, pair c: Candidate, scales: [Float]) {
        func replace(_ node: String, input: Int, transform: ([Float], [Int]) -> [Float]) {
            guard let n = g.nodes.firstIndex(where: { $0.name == node }) else { return }
            let old = g.nodes[n].inputs[input]
            guard let value = g.values[old], case .float(let data) = value.constant else { return }
            let name = g.freshName(old + "#equalized")
            g.addConstant(name, .float(transform(data, value.type.shape)), shape: value.type.shape)
            g.nodes[n].inputs[input] = name
        }
        // OHWI: output channel o is row o; a dense consumer's input channel is the last axis, a
        // depthwise consumer's the row.
        replace(c.producer.name, input: 1) { w, shape in
            let row = w.count / shape[0]
            return w.indices.map { w[$0] / scales[$0 / row] }
        }
        if c.producer.inputs.count > 2 {
            replace(c.producer.name, input: 2) { b, _ in b.indices.map { b[$0] / scales[$0] } }
        }
        replace(c.consumer.name, input: 1) { w, shape in
            if c.consumerIsDepthwise {
                let row = w.count / shape[0]
                return w.indices.map { w[$0] * scales[$0 / row] }
            }
            return w.indices.map { w[$0] * scales[$0 % shape[3]] }
        }
    }
}
