// fercc-kernel requires: Common/Math.swift

extension Kernels {

    /// Softmax of beta * x along the middle axis of [outer, axis, inner], max-subtracted, exp in double precision.
    public static func softmax(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int, beta: Float = 1
    ) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * axis * inner + i
                var m = -Float.infinity
                for k in 0..<axis { m = max(m, x[base + k * inner]) }
                var sum = 0.0
                for k in 0..<axis {
                    let e = KernelMath.exp(Double(x[base + k * inner] - m) * Double(beta))
                    y[base + k * inner] = Float(e)
                    sum += e
                }
                let inv = 1 / sum
                for k in 0..<axis { y[base + k * inner] = Float(Double(y[base + k * inner]) * inv) }
            }
        }
    }
}
