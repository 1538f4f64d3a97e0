extension Kernels {

    /// The input of LiteRT's hybrid (dynamic-range) CONV_2D, DEPTHWISE_CONV_2D and
    /// FULLY_CONNECTED kernels as the values they compute with: each of `batches` equal parts of
    /// `x` is quantized to int8 on the fly, as LiteRT's portable tensor utilities do, and written
    /// to `y` as quantized value times scale. Symmetric: scale = max|x| / 127 and
    /// q = clamp(round(x * (127 / max|x|)), -127, 127) (all zero when x is). Asymmetric: from
    /// rmin = min(0, x) and rmax = max(0, x), scale = (rmax - rmin) / 255, a zero point nudged into
    /// [-128, 127] from whichever end gives the smaller error, q = clamp(round(zp + x / scale),
    /// -128, 127), value (q - zp) * scale. Rounding is half away from zero (TfLiteRound). An int8
    /// weight multiplied by these values and summed in float equals LiteRT's int32 accumulation
    /// times the two scales, up to float rounding.
    public static func dynamicQuantize(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, batches: Int, asymmetric: Bool
    ) {
        let size = count / max(batches, 1)
        for b in 0..<max(batches, 1) {
            let xs = x + b * size, ys = y + b * size
            var lo = Float.infinity, hi = -Float.infinity
            for i in 0..<size {
                lo = min(lo, xs[i])
                hi = max(hi, xs[i])
            }
            if asymmetric {
                let rmin = Double(min(0, lo)), rmax = Double(max(0, hi))
                guard rmin != rmax else {
                    for i in 0..<size { ys[i] = 0 }
                    continue
                }
                let scale = (rmax - rmin) / 255
                let fromMin = -128 - rmin / scale, fromMax = 127 - rmax / scale
                let zeroPointDouble = 128 + abs(rmin / scale) < 127 + abs(rmax / scale) ? fromMin : fromMax
                let zeroPoint: Int32 =
                    zeroPointDouble <= -128 ? -128 : zeroPointDouble >= 127 ? 127 : Int32(zeroPointDouble.rounded())
                let s = Float(scale)
                let inverse = Float(1.0 / Double(s))
                let offset = Float(zeroPoint)
                for i in 0..<size {
                    let q = min(max((offset + xs[i] * inverse).rounded(), -128), 127)
                    ys[i] = (q - offset) * s
                }
            } else {
                let range = max(abs(lo), abs(hi))
                guard range != 0 else {
                    for i in 0..<size { ys[i] = 0 }
                    continue
                }
                let s = range / 127
                let inverse = 127 / range
                for i in 0..<size { ys[i] = min(max((xs[i] * inverse).rounded(), -127), 127) * s }
            }
        }
    }
}
