// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// Two runs of bytes (int8 tensors) interleaved per pixel, y[p][2j] = a[p * stride + j] and
    /// y[p][2j + 1] = b[p * stride + j] for j < `half` (at least 16): a two-group channel shuffle over
    /// NHWC (b = a + half, stride = 2 * half) or ShuffleNetV2's concatenation and shuffle of two
    /// branches. 16 channels of each per step; a partial last step redoes the 16 before it (the
    /// same bytes again).
    static func interleaveHalvesAVX2(
        _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, stride: Int, _ y: UnsafeMutableRawPointer, pixels: Int,
        half h: Int
    ) {
        for p in 0..<pixels {
            let a = a + p * stride, b = b + p * stride, out = y + p * 2 * h
            var j = 0
            while j < h {
                let at = Swift.min(j, h - 16)
                let va = a.loadUnaligned(fromByteOffset: at, as: __m128i.self),
                    vb = b.loadUnaligned(fromByteOffset: at, as: __m128i.self)
                out.storeBytes(of: _mm_unpacklo_epi8(va, vb), toByteOffset: 2 * at, as: __m128i.self)
                out.storeBytes(of: _mm_unpackhi_epi8(va, vb), toByteOffset: 2 * at + 16, as: __m128i.self)
                j += 16
            }
        }
    }
}
#endif
