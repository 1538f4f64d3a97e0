import FerccIR
import FerccRuntime
import Foundation

/// How activation ranges are chosen from what calibration saw.
public enum CalibrationMethod: String, CaseIterable, Sendable {
    /// The observed minimum and maximum (TFLite's and onnxruntime's default).
    case minmax
    /// The `percentile` and 100 - `percentile` quantiles of each tensor's values.
    case percentile
    /// The clipping range whose 256-level quantization has the smallest KL divergence from the
    /// observed distribution (TensorRT's entropy calibration).
    case entropy
    /// The clipping range with the smallest mean squared quantization error on the observed values.
    case mse
}

/// Per-activation statistics over the calibration samples: range, then a histogram over it.
public struct ActivationStatistics: Sendable {
    public var min: Float = .infinity
    public var max: Float = -.infinity
    public var histogram: [Double] = []
    /// Sums over every position of each channel (the last axis) and how many values each holds:
    /// the per-channel means bias correction uses.
    public var channelSums: [Double] = []
    public var perChannelCount = 0
    public static let bins = 2048

    public var channelMeans: [Double] { channelSums.map { $0 / Double(Swift.max(perChannelCount, 1)) } }

    mutating func observeRange(_ v: [Float], channels: Int) {
        for x in v where x.isFinite {
            if x < min { min = x }
            if x > max { max = x }
        }
        guard channels > 0 else { return }
        if channelSums.isEmpty { channelSums = [Double](repeating: 0, count: channels) }
        for i in v.indices { channelSums[i % channels] += Double(v[i]) }
        perChannelCount += v.count / channels
    }

    mutating func observeHistogram(_ v: [Float]) {
        if histogram.isEmpty { histogram = [Double](repeating: 0, count: Self.bins) }
        guard max > min else { histogram[0] += Double(v.count); return }
        let scale = Float(Self.bins) / (max - min)
        for x in v where x.isFinite {
            let b = Int((x - min) * scale)
            histogram[Swift.min(Swift.max(b, 0), Self.bins - 1)] += 1
        }
    }

    var binWidth: Double { Double(max - min) / Double(Self.bins) }
    func center(_ i: Int) -> Double { Double(min) + (Double(i) + 0.5) * binWidth }

    /// The range to quantize this tensor with (always containing 0, never empty).
    public func range(_ method: CalibrationMethod, percentile: Double) -> (lo: Float, hi: Float) {
        guard min.isFinite, max.isFinite else { return (0, 0) }
        var (lo, hi) = (min, max)
        if method != .minmax, !histogram.isEmpty, max > min {
            switch method {
            case .minmax: break
            case .percentile: (lo, hi) = quantiles(percentile)
            case .mse: (lo, hi) = bestClip(steps: 80, cost: mseCost)
            // KL falls as fewer histogram bins share a level, whatever the clipping costs, so
            // the search stops where each level still covers 4 bins (ranges down to half).
            case .entropy: (lo, hi) = bestClip(steps: 51, cost: klCost)
            }
        }
        return (Swift.min(lo, 0), Swift.max(hi, 0))
    }

    func quantiles(_ p: Double) -> (Float, Float) {
        let total = histogram.reduce(0, +)
        let tail = total * (100 - Swift.min(Swift.max(p, 50), 100)) / 100
        var acc = 0.0, lo = min, hi = max
        for i in 0..<Self.bins {
            acc += histogram[i]
            if acc > tail { lo = Float(Double(min) + Double(i) * binWidth); break }
        }
        acc = 0
        for i in stride(from: Self.bins - 1, through: 0, by: -1) {
            acc += histogram[i]
            if acc > tail { hi = Float(Double(min) + Double(i + 1) * binWidth); break }
        }
        return (lo, hi)
    }

    /// Tries ranges [min, max] shrunk toward zero by common factors and keeps the cheapest.
    func bestClip(steps: Int, cost: (Double, Double) -> Double) -> (Float, Float) {
        let lo0 = Double(Swift.min(min, 0)), hi0 = Double(Swift.max(max, 0))
        var best = (lo0, hi0), bestCost = Double.infinity
        for step in 0..<steps {
            let t = 1.0 - Double(step) * 0.01
            let c = cost(lo0 * t, hi0 * t)
            if c < bestCost { bestCost = c; best = (lo0 * t, hi0 * t) }
        }
        return (Float(best.0), Float(best.1))
    }

    /// Expected squared error of quantizing the histogram to 256 levels over [lo, hi].
    func mseCost(_ lo: Double, _ hi: Double) -> Double {
        let s = Swift.max(hi - lo, 1e-12) / 255
        var err = 0.0
        for i in 0..<Self.bins where histogram[i] > 0 {
            let x = center(i)
            let q = Swift.min(Swift.max(((x - lo) / s).rounded(), 0), 255) * s + lo
            err += histogram[i] * (x - q) * (x - q)
        }
        return err
    }

    /// KL(P || Q) as TensorRT's entropy calibration: P the histogram inside [lo, hi] with the
    /// mass outside folded onto the edge bins, Q each of the 256 levels' mass spread evenly over
    /// the (non-empty) bins it covers.
    func klCost(_ lo: Double, _ hi: Double) -> Double {
        let w = binWidth
        let first = Swift.min(Swift.max(Int((lo - Double(min)) / w), 0), Self.bins - 1)
        let last = Swift.min(Swift.max(Int((hi - Double(min)) / w), first), Self.bins - 1)
        var p = Array(histogram[first...last])
        p[0] += histogram[..<first].reduce(0, +)
        p[p.count - 1] += histogram[(last + 1)...].reduce(0, +)
        let total = p.reduce(0, +)
        guard total > 0 else { return 0 }
        let s = Swift.max(hi - lo, 1e-12) / 255
        var levelMass = [Double](repeating: 0, count: 256), levelBins = [Double](repeating: 0, count: 256)
        var level = [Int](repeating: 0, count: p.count)
        for j in p.indices {
            let l = Int(Swift.min(Swift.max(((center(first + j) - lo) / s).rounded(), 0), 255))
            level[j] = l
            levelMass[l] += p[j]
            if p[j] > 0 { levelBins[l] += 1 }
        }
        var kl = 0.0
        for j in p.indices where p[j] > 0 {
            let q = levelMass[level[j]] / levelBins[level[j]]
            kl += p[j] / total * Foundation.log(p[j] / q)
        }
        return kl
    }
}

/// Runs the float model over calibration samples and collects statistics for every float
/// activation (graph inputs included).
public enum Calibrator {
    public static func collect(
        _ graph: Graph, samples: [[Float]], method: CalibrationMethod,
        progress: ((Int) -> Void)? = nil
    ) throws -> [String: ActivationStatistics] {
        let interpreter = try Interpreter(graph: graph)
        let input = graph.inputs[0]
        var stats: [String: ActivationStatistics] = [:]
        let passes = method == .minmax ? 1 : 2
        for pass in 0..<passes {
            for (i, s) in samples.enumerated() {
                let values = try interpreter.run(tensors: [input: .float(s)], keepingAll: true)
                for (name, t) in values {
                    guard case .float(let v) = t, graph.values[name]?.isConstant == false else { continue }
                    if pass == 0 {
                        stats[name, default: ActivationStatistics()].observeRange(
                            v, channels: graph.values[name]!.type.shape.last ?? 1)
                    } else {
                        stats[name]?.observeHistogram(v)
                    }
                }
                progress?(pass * samples.count + i + 1)
            }
        }
        return stats
    }
}
