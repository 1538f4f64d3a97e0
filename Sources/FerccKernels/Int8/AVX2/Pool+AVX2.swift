// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift Common/Geometry.swift Int8/QuantizedPool.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// int8 max pooling for layers of at least 16 channels (`quantizedPool`'s definition), in two
    /// passes per output row: the maximum over the window's rows inside the input, down whole input
    /// rows at 32 bytes a step (`columns`: one row of the layer's width), then per output pixel and
    /// block of 32 channels (16 for fewer than 32) the maximum over the window's columns inside
    /// the input, and the clamp; a partial last block is the last 32 (16) channels, overlapping
    /// the block before. Taken apart this way a 3 x 3 window costs about 2 x 3 loads per
    /// output instead of 9, with no per-tap loop over a clipped window (mini-Xception's int8
    /// inference, four such pools: 0.1315 -> 0.1289 ms).
    static func maxPoolAVX2(
        _ g: Conv2DGeometry, min: Int32, max: Int32, _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>
    ) {
        let c = g.inC
        let lo = _mm256_set1_epi8(Int8(truncatingIfNeeded: Swift.max(min, -128))),
            hi = _mm256_set1_epi8(Int8(truncatingIfNeeded: Swift.min(max, 127)))
        let none = _mm256_set1_epi8(-128)
        let rowBytes = g.inW * c
        let width = c >= 32 ? 32 : 16
        #if FERCC_AVX512
        let windows = g.kernelW == 3 && g.strideW == 2 ? (c == 16 ? 4 : c == 32 ? 2 : 0) : 0
        let lo512 = _mm512_broadcast_i64x4(lo), hi512 = _mm512_broadcast_i64x4(hi)
        // The even and the odd columns of two vectors (qwords; the second vector's are 8-15):
        // 128-bit lanes 0 and 2 of each, or 1 and 3 (16 channels); 256-bit lane 0 or 1 (32).
        let evenColumns =
            c == 16 ? _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0) : _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0)
        let oddColumns =
            c == 16 ? _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2) : _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        #endif
        let blocks = (c + width - 1) / width
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: rowBytes) { buffer in
            let columns = UnsafeMutableRawPointer(buffer.baseAddress!)
            for n in 0..<g.batch {
                for oh in 0..<g.outH {
                    let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
                    let top = UnsafeRawPointer(input + (n * g.inH + y0 + ys.lowerBound) * rowBytes)
                    // Steps of 32 bytes (16 for rows under 32), the last overlapping the one before.
                    var i = 0
                    while rowBytes >= 32 && i < rowBytes {
                        let at = Swift.min(i, rowBytes - 32)
                        var m = none
                        for r in 0..<ys.count {
                            m = _mm256_max_epi8(m, (top + r * rowBytes + at).loadUnaligned(as: __m256i.self))
                        }
                        columns.storeBytes(of: m, toByteOffset: at, as: __m256i.self)
                        i = at + 32
                    }
                    while i < rowBytes {
                        let at = Swift.min(i, rowBytes - 16)
                        var m = _mm256_castsi256_si128(none)
                        for r in 0..<ys.count {
                            m = _mm_max_epi8(m, (top + r * rowBytes + at).loadUnaligned(as: __m128i.self))
                        }
                        columns.storeBytes(of: m, toByteOffset: at, as: __m128i.self)
                        i = at + 16
                    }
                    let outRow = UnsafeMutableRawPointer(output + (n * g.outH + oh) * g.outW * c)
                    var ow = 0
                    while ow < g.outW {
                        #if FERCC_AVX512
                        // 16 or 32 channels, 3 taps at stride 2 (mini-Xception's first two pools):
                        // four or two whole windows per 512-bit step. Their first, second and
                        // third taps are the even and odd columns of two 64-byte loads, and the
                        // odd ones of two loads a column later.
                        let start = ow &* 2 &- g.padLeft
                        if windows > 0 && start >= 0 && start &+ 2 &* windows < g.inW && ow &+ windows <= g.outW {
                            let at = UnsafeRawPointer(columns + start &* c)
                            let a = at.loadUnaligned(as: __m512i.self)
                            let b = at.loadUnaligned(fromByteOffset: 64, as: __m512i.self)
                            let e = at.loadUnaligned(fromByteOffset: c, as: __m512i.self)
                            let f = at.loadUnaligned(fromByteOffset: 64 &+ c, as: __m512i.self)
                            let m = _mm512_max_epi8(
                                _mm512_max_epi8(
                                    _mm512_permutex2var_epi64(a, evenColumns, b),
                                    _mm512_permutex2var_epi64(a, oddColumns, b)),
                                _mm512_permutex2var_epi64(e, oddColumns, f))
                            (outRow + ow &* c).storeBytes(
                                of: _mm512_min_epi8(_mm512_max_epi8(m, lo512), hi512), as: __m512i.self)
                            ow &+= windows
                            continue
                        }
                        #endif
                        let (x0, xs) = poolWindow(
                            ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                        let corner = UnsafeRawPointer(columns + (x0 + xs.lowerBound) * c)
                        let out = outRow + ow * c
                        for b in 0..<blocks {
                            let first = Swift.min(b * width, c - width)
                            if width == 32 {
                                var m = none
                                for t in 0..<xs.count {
                                    m = _mm256_max_epi8(m, (corner + t * c + first).loadUnaligned(as: __m256i.self))
                                }
                                out.storeBytes(
                                    of: _mm256_min_epi8(_mm256_max_epi8(m, lo), hi), toByteOffset: first,
                                    as: __m256i.self)
                            } else {
                                var m = _mm256_castsi256_si128(none)
                                for t in 0..<xs.count {
                                    m = _mm_max_epi8(m, (corner + t * c + first).loadUnaligned(as: __m128i.self))
                                }
                                let clamped = _mm_min_epi8(
                                    _mm_max_epi8(m, _mm256_castsi256_si128(lo)), _mm256_castsi256_si128(hi))
                                out.storeBytes(of: clamped, toByteOffset: first, as: __m128i.self)
                            }
                        }
                        ow += 1
                    }
                }
            }
        }
    }
}
#endif
