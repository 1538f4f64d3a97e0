import FerccIR
import FerccRuntime

/// Bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
/// Correction", section 4.2, with the input means measured on calibration data): rounding the
/// weights shifts each output channel's mean by (W_int8 - W) . E[x]; that shift is subtracted
/// from the int32 bias. Each layer's correction uses its float input's per-channel mean (from the
/// calibration statistics, so the float model is not run again), so the corrections do not
/// compound through the network. Padding taps are not modelled.
public enum BiasCorrection {
    public static func apply(float: Graph, int8: Graph, statistics: [String: ActivationStatistics]) -> Graph {
        let floatNodes = Dictionary(float.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let targets = int8.nodes.filter { n in
            guard n.inputs.count > 2, int8.values[n.outputs[0]]?.type.dtype == .int8, let f = floatNodes[n.name] else {
                return false
            }
            switch (n.op, f.op) {
            case (.conv2D, .conv2D): return true
            case (.gemm, .gemm(let g)): return !g.transA && float.values[f.inputs[0]]?.type.rank == 2
            default: return false
            }
        }
        var g = int8
        for n in targets {
            let fn = floatNodes[n.name]!
            guard let mean = statistics[fn.inputs[0]]?.channelMeans, !mean.isEmpty,
                case .int8(let wq)? = g.values[n.inputs[1]]?.constant,
                let wqq = g.values[n.inputs[1]]?.type.quantization,
                var w = float.values[fn.inputs[1]]?.constant?.floats,
                case .int32(var bias)? = g.values[n.inputs[2]]?.constant,
                let bq = g.values[n.inputs[2]]?.type.quantization
            else { continue }
            let outC = g.values[n.inputs[1]]!.type.shape[0]
            let per = wq.count / max(outC, 1)
            var groups = 1
            if case .conv2D(let c) = fn.op { groups = c.groups }
            if case .gemm(let gm) = fn.op { w = gm.outputRows(w, shape: float.values[fn.inputs[1]]!.type.shape).rows }
            guard w.count == wq.count else { continue }
            let inPerGroup = mean.count / max(groups, 1), outPerGroup = outC / max(groups, 1)
            for c in 0..<outC {
                let scale = Double(wqq.scales.count == 1 ? wqq.scales[0] : wqq.scales[c])
                let base = (c / max(outPerGroup, 1)) * inPerGroup
                var shift = 0.0
                for k in 0..<per {
                    // OHWI (or [outputs, depth]): the input channel is the fastest axis.
                    let ci = base + k % max(inPerGroup, 1)
                    guard ci < mean.count else { continue }
                    shift += (Double(wq[c * per + k]) * scale - Double(w[c * per + k])) * mean[ci]
                }
                let bs = Double(bq.scales.count == 1 ? bq.scales[0] : bq.scales[c])
                guard bs > 0, c < bias.count else { continue }
                let steps = (shift / bs).rounded()
                bias[c] = Int32(clamping: Int64(bias[c]) - Int64(max(min(steps, 1e9), -1e9)))
            }
            g.values[n.inputs[2]]!.constant = .int32(bias)
        }
        return g
    }
}
