/// How post-training quantization picks a weight slice's scale: `none` covers the slice's
/// largest magnitude (TFLite's converter); `mse` searches a clipping of it for the smallest
/// squared rounding error over the slice (outliers clamped, the rest on finer levels).
public enum WeightClipping: String, CaseIterable, Sendable {
    case none, mse

    /// The clipping ratios `mse` tries, largest first: 1, 0.99, ..., 0.5.
    static let ratios: [Float] = (0...50).map { 1 - Float($0) / 100 }
}

/// TFLite's weight and bias quantization, shared by post-training quantization (FerccQuantize)
/// and the QDQ fold (FerccPasses), which re-derives a QDQ model's int8 weights with it.
public enum WeightQuantization {
    /// Symmetric int8 with one scale per slice along axis 0 (`slices` of them; 1 for per tensor):
    /// scale max|w| / 127 (1 for an all-zero or non-finite slice; with `clipping` `.mse`, the
    /// ratio of max|w| whose levels have the smallest squared error over the slice, the largest
    /// on ties), values rounded half away from zero and clamped to [-127, 127]. The quantization
    /// type has zero points 0 and axis 0 when per channel.
    public static func symmetric(_ w: [Float], slices: Int, clipping: WeightClipping = .none) -> (
        values: [Int8], quantization: Quantization
    ) {
        let groups = max(slices, 1)
        let per = w.count / groups
        var scales: [Float] = []
        var values = [Int8](repeating: 0, count: w.count)
        for g in 0..<groups {
            let range = (g * per)..<((g + 1) * per)
            let m = w[range].reduce(0) { max($0, abs($1)) }
            var s = m > 0 && m.isFinite ? m / 127 : 1
            if clipping == .mse, m > 0, m.isFinite {
                var best = Double.infinity
                for r in WeightClipping.ratios {
                    let c = r * m / 127
                    var e = 0.0
                    for i in range {
                        let d = Double(w[i] - c * min(max((w[i] / c).rounded(), -127), 127))
                        e += d * d
                    }
                    if e < best { (best, s) = (e, c) }
                }
            }
            scales.append(s)
            for i in range { values[i] = Int8(min(max((w[i] / s).rounded(), -127), 127)) }
        }
        return (
            values,
            Quantization(
                scales: scales, zeroPoints: [Int32](repeating: 0, count: scales.count), axis: scales.count > 1 ? 0 : nil
            )
        )
    }

    /// int32 bias at input scale x weight scale (per output channel, or one weight scale for all),
    /// rounded and clamped to +-(2^31 - 1), with those scales as its quantization.
    public static func bias(_ b: [Float], inputScale: Float, weightScales: [Float]) -> (
        values: [Int32], quantization: Quantization
    ) {
        let scales = b.indices.map {
            Double(inputScale) * Double(weightScales.count == 1 ? weightScales[0] : weightScales[$0])
        }
        let values = b.indices.map { i -> Int32 in
            Int32(min(max((Double(b[i]) / scales[i]).rounded(), -2_147_483_647), 2_147_483_647))
        }
        return (
            values,
            Quantization(
                scales: scales.map { Float($0) }, zeroPoints: [Int32](repeating: 0, count: b.count),
                axis: b.count > 1 ? 0 : nil)
        )
    }
}
