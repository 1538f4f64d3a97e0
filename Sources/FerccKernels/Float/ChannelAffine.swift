extension Kernels {
    /// y = x * scale[c] + shift[c] with c the index on the channel axis: [outer, channels, inner].
    public static func channelAffine(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        outer: Int, channels: Int, inner: Int
    ) {
        if inner == 1 {
            for o in 0..<outer {
                let px = x + o * channels, py = y + o * channels
                for c in 0..<channels { py[c] = px[c] * scale[c] + shift[c] }
            }
            return
        }
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                let s = scale[c], t = shift[c]
                for i in 0..<inner { y[base + i] = x[base + i] * s + t }
            }
        }
    }
}
