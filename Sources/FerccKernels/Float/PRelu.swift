// fercc-kernel requires: Float/Binary.swift

extension Kernels {
    /// PRelu: y = x >= 0 ? x : slope * x, slope broadcast to x.
    public static func prelu(
        _ x: UnsafePointer<Float>, _ xShape: [Int], _ slope: UnsafePointer<Float>, _ slopeShape: [Int],
        _ y: UnsafeMutablePointer<Float>
    ) {
        binaryBroadcast(.mul, x, xShape, slope, slopeShape, y, xShape)
        let n = xShape.reduce(1, *)
        for i in 0..<n where x[i] >= 0 { y[i] = x[i] }
    }
}
