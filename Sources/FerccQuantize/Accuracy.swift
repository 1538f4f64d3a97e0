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
    public var samples: Int
    /// "holdout" or "calibration" (when no sample was held out).
    public var evaluated_on: String
    public var top1_agreement: Double
    public var mean_abs_error: Double
    public var max_abs_error: Double
    public var output_range: [Float]
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
        let input = float.inputs[0], output = float.outputs[0]
        var signal: [String: Double] = [:], noise: [String: Double] = [:]
        var agree = 0, absSum = 0.0, absMax = 0.0, count = 0
        var lo = Float.infinity, hi = -Float.infinity
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
            guard let ref = fv[output]?.floats, let got = qv[int8.outputs[0]]?.floats else {
                throw FerccError("the output '\(output)' is not float in both models")
            }
            if argmax(ref) == argmax(got) { agree += 1 }
            for (a, b) in zip(ref, got) {
                let d = Double(abs(a - b))
                absSum += d
                absMax = max(absMax, d)
                count += 1
                lo = min(lo, a)
                hi = max(hi, a)
            }
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
            output_range: lo <= hi ? [lo, hi] : [], layers: layers, float_nodes: floatNodes,
            weight_bytes_fp32: parameterBytes(float), weight_bytes_int8: parameterBytes(int8),
            method: method, per_channel: perChannel)
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
                + "\(per_channel ? "per channel" : "per tensor"), rounding \(weight_rounding), equalization "
                + "\(equalization), bias correction \(bias_correction))"
        )
        lines.append(
            String(
                format: "  top-1 agreement %.1f%%, mean |error| %.6g, max |error| %.6g (fp32 outputs in [%@])",
                top1_agreement * 100, mean_abs_error, max_abs_error,
                output_range.map { String($0) }.joined(separator: ", ")))
        lines.append(
            "  weights \(weight_bytes_int8) bytes int8 vs \(weight_bytes_fp32) fp32 "
                + "(\(String(format: "%.3f", Double(weight_bytes_int8) / Double(max(weight_bytes_fp32, 1)))))"
        )
        lines.append("  float nodes: \(float_nodes.isEmpty ? "none" : float_nodes.joined(separator: ", "))")
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
