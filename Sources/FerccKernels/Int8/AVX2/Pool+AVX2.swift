// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift Common/Geometry.swift Int8/QuantizedPool.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// int8 max pooling for layers of at least 16 channels (`quantizedPool`'s definition): per output
    /// pixel and 16 channels, the maximum over the window's taps inside the input, then the clamp; a
    /// partial last block is the last 16 channels, overlapping the block before.
    static func maxPoolAVX2(
        _ g: Conv2DGeometry, min: Int32, max: Int32, _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>
    ) {
        let c = g.inC
        let lo = _mm_set1_epi8(Int8(truncatingIfNeeded: Swift.max(min, -128))),
            hi = _mm_set1_epi8(Int8(truncatingIfNeeded: Swift.min(max, 127)))
        let blocks = (c + 15) / 16, rowStride = g.inW * c
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
                for ow in 0..<g.outW {
                    let (x0, xs) = poolWindow(
                        ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                    let corner = UnsafeRawPointer(
                        input + ((n * g.inH + y0 + ys.lowerBound) * g.inW + x0 + xs.lowerBound) * c)
                    let out = UnsafeMutableRawPointer(output + ((n * g.outH + oh) * g.outW + ow) * c)
                    for b in 0..<blocks {
                        let first = Swift.min(b * 16, c - 16)
                        var m = _mm_set1_epi8(-128)
                        var row = corner + first
                        for _ in ys {
                            var tap = row
                            for _ in xs {
                                m = _mm_max_epi8(m, tap.loadUnaligned(as: __m128i.self))
                                tap += c
                            }
                            row += rowStride
                        }
                        out.storeBytes(of: _mm_min_epi8(_mm_max_epi8(m, lo), hi), toByteOffset: first, as: __m128i.self)
                    }
                }
            }
        }
    }
}
#endif
