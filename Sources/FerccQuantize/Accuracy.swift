import FerccIR
import FerccRuntime
import Foundation

/// int8 against float on held-out samples: per-layer SQNR, output agreement and errors.
public struct AccuracyReport: Codable, Sendable {
    public struct Layer: Codable, Sendable {
        public var node: String
        public var op: String
        public var sqnr_db: Double
    }
    /// One model output's agreement and errors (models with several outputs: a face detector's
    /// box regressors and scores have different units, so each is reported apart).
    public struct Output: Codable, Sendable {
        public var name: String
        public var top1_agreement: Double
        public var mean_abs_error: Double
        public var max_abs_error: Double
        public var range: [Float]
    }
    public var samples: Int
    /// "holdout" or "calibration" (when no sample was held out).
    public var evaluated_on: String
    /// Over every output: the share of samples whose every output has its top-1 in the same place,
    /// and the errors over all their values (`outputs` has each one's own).
    public var top1_agreement: Double
    public var mean_abs_error: Double
    public var max_abs_error: Double
    public var output_range: [Float]
    /// Each output's numbers, in the model's output order.
    public var outputs: [Output]
    /// Worst first.
    public var layers: [Layer]
    public var float_nodes: [String]
    public var weight_bytes_fp32: Int
    public var weight_bytes_int8: Int
    public var method: String
    public var per_channel: Bool
    public var bias_correction = "off"
    /// Cross-layer equalization: "off" or how many convolution pairs it rescaled.
    public var equalization = "off"
    /// "nearest", or "gptq (N layers ...)" (`ErrorCompensatedRounding`).
    public var weight_rounding = "nearest"
    /// How weight scales were chosen (`WeightClipping`): "none" (max |w|) or "mse".
    public var weight_clipping = "none"
    /// How the int8 graph computes (`Int8Arithmetic`): "fercc" (int8 adds and subtracts, and the
    /// convolutions' and fully connected layers' scaling, in float32) or "tflite" (TFLite's
    /// reference kernels bit for bit).
    public var int8_arithmetic = "tflite"
    /// Set when the numbers rest on too few samples to mean much.
    public var warning: String?

    /// Below this many evaluation samples the report says, first, that its numbers mean little.
    public static let meaningfulSamples = 20

    /// Parameter bytes of a graph's constants (what the model stores, before any layout packing).
    public static func parameterBytes(_ g: Graph) -> Int {
        g.values.values.reduce(0) { sum, v in
            guard let c = v.constant, v.type.dtype != .int64 else { return sum }
            return sum + c.count * v.type.dtype.byteSize
        }
    }

    /// Runs both graphs on `samples` and compares every float value with its int8 version ("#q").
    public static func measure(
        float: Graph, int8: Graph, floatNodes: [String], samples: [[Float]], evaluatedOn: String,
        method: String, perChannel: Bool
    ) throws -> AccuracyReport {
        let f = try Interpreter(graph: float), q = try Interpreter(graph: int8)
        let input = float.inputs[0]
        guard float.outputs.count == int8.outputs.count else {
            throw FerccError("the float model has \(float.outputs.count) outputs, the int8 one \(int8.outputs.count)")
        }
        var signal: [String: Double] = [:], noise: [String: Double] = [:]
        // Per output: samples whose top-1 agrees, sum and max of |error|, value count, range.
        var outs = float.outputs.map {
            Output(name: $0, top1_agreement: 0, mean_abs_error: 0, max_abs_error: 0, range: [])
        }
        var counts = [Int](repeating: 0, count: outs.count)
        var lows = [Float](repeating: .infinity, count: outs.count),
            highs = [Float](repeating: -.infinity, count: outs.count)
        var agree = 0
        for s in samples {
            let fv = try f.run(tensors: [input: .float(s)], keepingAll: true)
            let qv = try q.run(tensors: [int8.inputs[0]: .float(s)], keepingAll: true)
            for (name, t) in fv {
                guard case .float(let ref) = t, let qt = qv[name + "#q"],
                    let qq = int8.values[name + "#q"]?.type.quantization
                else { continue }
                let deq = qt.dequantized(qq)
                var sig = 0.0, err = 0.0
                for (a, b) in zip(ref, deq) { sig += Double(a) * Double(a); err += Double(a - b) * Double(a - b) }
                signal[name, default: 0] += sig
                noise[name, default: 0] += err
            }
            var all = true
            for k in outs.indices {
                let output = float.outputs[k]
                guard let ref = fv[output]?.floats, let got = qv[int8.outputs[k]]?.floats, ref.count == got.count else {
                    throw FerccError("the output '\(output)' is not float in both models")
                }
                if argmax(ref) == argmax(got) { outs[k].top1_agreement += 1 } else { all = false }
                for (a, b) in zip(ref, got) {
                    let d = Double(abs(a - b))
                    outs[k].mean_abs_error += d
                    outs[k].max_abs_error = max(outs[k].max_abs_error, d)
                    lows[k] = min(lows[k], a)
                    highs[k] = max(highs[k], a)
                }
                counts[k] += ref.count
            }
            if all { agree += 1 }
        }
        let absSum = outs.reduce(0) { $0 + $1.mean_abs_error }, count = counts.reduce(0, +)
        let absMax = outs.reduce(0) { max($0, $1.max_abs_error) }
        let lo = lows.min() ?? .infinity, hi = highs.max() ?? -.infinity
        for k in outs.indices {
            outs[k].top1_agreement = samples.isEmpty ? 0 : outs[k].top1_agreement / Double(samples.count)
            outs[k].mean_abs_error = counts[k] == 0 ? 0 : outs[k].mean_abs_error / Double(counts[k])
            outs[k].range = lows[k] <= highs[k] ? [lows[k], highs[k]] : []
        }
        let producers = float.producers()
        var layers: [Layer] = []
        let floatSet = Set(floatNodes)
        for (name, sig) in signal {
            // Layers that stayed float are not listed (their "#q" is a quantize node's output).
            guard let p = producers[name], !floatSet.contains(float.nodes[p].name) else { continue }
            let n = noise[name] ?? 0
            let db = n == 0 ? 200 : 10 * log10(sig / n)
            layers.append(Layer(node: float.nodes[p].name, op: float.nodes[p].op.name, sqnr_db: db))
        }
        layers.sort { $0.sqnr_db != $1.sqnr_db ? $0.sqnr_db < $1.sqnr_db : $0.node < $1.node }
        var report = AccuracyReport(
            samples: samples.count, evaluated_on: evaluatedOn,
            top1_agreement: samples.isEmpty ? 0 : Double(agree) / Double(samples.count),
            mean_abs_error: count == 0 ? 0 : absSum / Double(count), max_abs_error: absMax,
            output_range: lo <= hi ? [lo, hi] : [], outputs: outs, layers: layers, float_nodes: floatNodes,
            weight_bytes_fp32: parameterBytes(float), weight_bytes_int8: parameterBytes(int8),
            method: method, per_channel: perChannel)
        report.int8_arithmetic = int8.int8Arithmetic.rawValue
        if samples.count < meaningfulSamples {
            report.warning =
                "measured on only \(samples.count) \(evaluatedOn) sample\(samples.count == 1 ? "" : "s"): too few "
                + "for these "
                + "numbers to mean much (give at least \(meaningfulSamples) held-out samples: more data, or a "
                + "larger --holdout)"
        }
        return report
    }

    /// The report as text (what `fercc quantize` prints).
    public func text(worst: Int = 10) -> String {
        var lines: [String] = []
        if let warning { lines.append("warning: \(warning)") }
        lines.append(
            "accuracy  int8 vs fp32 on \(samples) \(evaluated_on) samples (calibration: \(method), weights "
                + "\(per_channel ? "per channel" : "per tensor"), rounding \(weight_rounding), clipping \(weight_clipping), equalization "
                + "\(equalization), bias correction \(bias_correction))"
        )
        lines.append(
            String(
                format: "  top-1 agreement %.1f%%, mean |error| %.6g, max |error| %.6g (fp32 outputs in [%@])",
                top1_agreement * 100, mean_abs_error, max_abs_error,
                output_range.map { String($0) }.joined(separator: ", ")))
        if outputs.count > 1 {
            for o in outputs {
                lines.append(
                    String(
                        format:
                            "    output %@: top-1 agreement %.1f%%, mean |error| %.6g, max |error| %.6g (fp32 in [%@])",
                        o.name, o.top1_agreement * 100, o.mean_abs_error, o.max_abs_error,
                        o.range.map { String($0) }.joined(separator: ", ")))
            }
        }
        lines.append(
            "  weights \(weight_bytes_int8) bytes int8 vs \(weight_bytes_fp32) fp32 "
                + "(\(String(format: "%.3f", Double(weight_bytes_int8) / Double(max(weight_bytes_fp32, 1)))))"
        )
        lines.append("  float nodes: \(float_nodes.isEmpty ? "none" : float_nodes.joined(separator: ", "))")
        lines.append(
            "  int8 arithmetic: "
                + (int8_arithmetic == "fercc"
                    ? "fercc's (adds, subtracts, convolutions and fully connected layers requantized in float32; "
                        + "the rest as TFLite's reference kernels)"
                    : "TFLite's reference kernels, bit for bit"))
        lines.append("  lowest per-layer SQNR (dB):")
        for l in layers.prefix(worst) { lines.append(String(format: "    %7.1f  %@ %@", l.sqnr_db, l.op, l.node)) }
        return lines.joined(separator: "\n")
    }
}

/// The index of the largest score (the first on ties): a classifier's top-1 class.
public func argmax(_ v: [Float]) -> Int {
    var best = 0
    for i in v.indices where v[i] > v[best] { best = i }
    return best
}
