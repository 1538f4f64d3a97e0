// int8 max pooling on AArch64: `smax` over 16 channels per tap.
// fercc-kernel requires: Common/Geometry.swift Int8/QuantizedPool.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 max pooling for layers of at least 16 channels (`quantizedPool`'s definition): per
    /// output pixel and 16 channels, the maximum over the window's taps inside the input, then the
    /// clamp; a partial last block is the last 16 channels, overlapping the block before. The
    /// portable loop's generic `pointwiseMax` stayed a call per tap and its index arithmetic was
    /// checked (ShuffleNetV2's 3x3 pool: 0.92 M instructions per inference).
    static func maxPoolNEON(
        _ g: Conv2DGeometry, min: Int32, max: Int32, _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>
    ) {
        let c = g.inC
        let lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.max(min, -128)))
        let hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.min(max, 127)))
        let blocks = (c &+ 15) / 16, rowStride = g.inW &* c
        var out = UnsafeMutableRawPointer(output)
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
                let rows = ys.count
                for ow in 0..<g.outW {
                    let (x0, xs) = poolWindow(
                        ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                    let columns = xs.count
                    let pixel: Int = (n &* g.inH &+ y0 &+ ys.lowerBound) &* g.inW &+ x0 &+ xs.lowerBound
                    let corner = UnsafeRawPointer(input + pixel &* c)
                    for b in 0..<blocks {
                        let first = Swift.min(b &* 16, c &- 16)
                        var m = SIMD16<Int8>(repeating: -128)
                        var row = corner + first
                        for _ in 0..<rows {
                            var tap = row
                            for _ in 0..<columns {
                                m = vmaxq_s8(m, tap.loadUnaligned(as: SIMD16<Int8>.self))
                                tap += c
                            }
                            row += rowStride
                        }
                        (out + first).storeBytes(of: vminq_s8(vmaxq_s8(m, lo), hi), as: SIMD16<Int8>.self)
                    }
                    out += c
                }
            }
        }
    }
}
#endif
