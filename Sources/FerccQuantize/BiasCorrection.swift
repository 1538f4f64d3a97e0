import FerccIR
import FerccRuntime

/// Bias correction (Nagel et al., "Data-Free Quantization", section 4.2, with calibration data):
/// quantized weights shift each output channel's mean; measuring that shift on the calibration
/// samples (int8 output dequantized minus float output, averaged per channel) and subtracting it
/// from the int32 bias removes the systematic part of the error. All layers are corrected from
/// one pair of runs.
public enum BiasCorrection {
    public static func apply(float: Graph, int8: Graph, samples: [[Float]]) throws -> Graph {
        let f = try Interpreter(graph: float), q = try Interpreter(graph: int8)
        var sums: [String: [Double]] = [:]
        var counts: [String: Int] = [:]
        let targets = int8.nodes.filter { n in
            switch n.op {
            case .conv2D, .gemm: return n.inputs.count > 2 && int8.values[n.outputs[0]]?.type.dtype == .int8
            default: return false
            }
        }
        for s in samples {
            let fv = try f.run(tensors: [float.inputs[0]: .float(s)], keepingAll: true)
            let qv = try q.run(tensors: [int8.inputs[0]: .float(s)], keepingAll: true)
            for n in targets {
                let qo = n.outputs[0]
                guard qo.hasSuffix("#q"), let ref = fv[String(qo.dropLast(2))]?.floats, let got = qv[qo],
                      let qq = int8.values[qo]?.type.quantization else { continue }
                let deq = got.dequantized(qq)
                let c = int8.values[qo]!.type.shape.last!
                var acc = sums[qo] ?? [Double](repeating: 0, count: c)
                for i in 0..<min(ref.count, deq.count) { acc[i % c] += Double(deq[i] - ref[i]) }
                sums[qo] = acc
                counts[qo, default: 0] += ref.count / c
            }
        }
        var g = int8
        for n in targets {
            let qo = n.outputs[0]
            guard let acc = sums[qo], let count = counts[qo], count > 0,
                  case .int32(var bias)? = g.values[n.inputs[2]]?.constant,
                  let bq = g.values[n.inputs[2]]?.type.quantization else { continue }
            // Outputs clamped by a fused activation hide part of the shift; correct only what is measured.
            for c in 0..<min(bias.count, acc.count) {
                let scale = Double(bq.scales.count == 1 ? bq.scales[0] : bq.scales[c])
                guard scale > 0 else { continue }
                let shift = (acc[c] / Double(count) / scale).rounded()
                bias[c] = Int32(clamping: Int64(bias[c]) - Int64(max(min(shift, 1e9), -1e9)))
            }
            g.values[n.inputs[2]]!.constant = .int32(bias)
        }
        return g
    }
}
