// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// clamp(round(c) + zero point, lo, hi) for floats with |c| <= 1000, rounding half away from
    /// zero or half to even: the fraction left by truncation is exact, and for such fractions the
    /// float order is the signed order of the bits (negative ones are below 0.5's).
    @inline(__always)
    static func roundedAVX2(_ c: __m256, halfToEven: Bool, zeroPoint zp: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
        let one = _mm256_set1_epi32(1), halfBits = _mm256_set1_epi32(Int32(bitPattern: Float(0.5).bitPattern))
        let t = _mm256_cvttps_epi32(c)
        let f = _mm256_sub_ps(c, _mm256_cvtepi32_ps(t))  // exact, in (-1, 1)
        let fBits = _mm256_castps_si256(f), gBits = _mm256_castps_si256(_mm256_sub_ps(_mm256_setzero_ps(), f))
        var up: __m256i, down: __m256i
        if halfToEven {
            let odd = _mm256_cmpeq_epi32(_mm256_and_si256(t, one), one)
            up = _mm256_or_si256(
                _mm256_cmpgt_epi32(fBits, halfBits), _mm256_and_si256(_mm256_cmpeq_epi32(fBits, halfBits), odd))
            down = _mm256_or_si256(
                _mm256_cmpgt_epi32(gBits, halfBits), _mm256_and_si256(_mm256_cmpeq_epi32(gBits, halfBits), odd))
        } else {
            up = _mm256_cmpgt_epi32(fBits, _mm256_sub_epi32(halfBits, one))
            down = _mm256_cmpgt_epi32(gBits, _mm256_sub_epi32(halfBits, one))
        }
        let r = _mm256_add_epi32(_mm256_sub_epi32(t, up), down)  // masks are -1 where true
        return _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi)
    }

    /// `rescaleInt8` 16 at a time: round(q * scale + bias) half away from zero (float multiply, then
    /// add, as the scalar code), plus the output zero point, clamped. Returns how many it wrote.
    static func rescaleAVX2(
        _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, bias: Float,
        outputZeroPoint: Int32
    ) -> Int {
        let s = _mm256_set1_ps(scale), b = _mm256_set1_ps(bias)
        let limit = _mm256_set1_ps(1000), negLimit = _mm256_set1_ps(-1000)
        let zp = _mm256_set1_epi32(outputZeroPoint), lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127)
        @inline(__always) func eight(_ q: __m128i) -> __m256i {
            let v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), s), b)
            return roundedAVX2(
                _mm256_min_ps(_mm256_max_ps(v, negLimit), limit), halfToEven: false, zeroPoint: zp, lo: lo, hi: hi)
        }
        var i = 0
        while i + 16 <= count {
            let q = UnsafeRawPointer(x + i).loadUnaligned(as: __m128i.self)
            let bytes = _mm256_packs_epi16(
                _mm256_packs_epi32(eight(q), eight(_mm_unpackhi_epi64(q, q))), _mm256_setzero_si256())
            UnsafeMutableRawPointer(y + i).storeBytes(
                of: _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, channelOrder)), as: __m128i.self)
            i += 16
        }
        return i
    }

    /// Floats to int8 as `quantizeInt8`, 16 at a time: the same float division, NaN to 0, then the
    /// rounding rule on the exact fraction left by truncation (magnitudes clamped to 1000 first,
    /// which changes no result once clamped to int8). Returns how many elements it wrote.
    static func quantizeAVX2(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32,
        halfToEven: Bool
    ) -> Int {
        let s = _mm256_set1_ps(scale)
        let limit = _mm256_set1_ps(1000), negLimit = _mm256_set1_ps(-1000)
        let absMask = _mm256_set1_epi32(0x7FFF_FFFF), infBits = _mm256_set1_epi32(0x7F80_0000)
        let zp = _mm256_set1_epi32(zeroPoint), lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127)
        @inline(__always) func eight(_ p: UnsafePointer<Float>) -> __m256i {
            let v = _mm256_div_ps(UnsafeRawPointer(p).loadUnaligned(as: __m256.self), s)
            let bits = _mm256_castps_si256(v)
            let nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, absMask), infBits)
            let c = _mm256_min_ps(_mm256_max_ps(_mm256_castsi256_ps(_mm256_andnot_si256(nan, bits)), negLimit), limit)
            return roundedAVX2(c, halfToEven: halfToEven, zeroPoint: zp, lo: lo, hi: hi)
        }
        var i = 0
        while i + 16 <= count {
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(eight(x + i), eight(x + i + 8)), _mm256_setzero_si256())
            UnsafeMutableRawPointer(y + i).storeBytes(
                of: _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, channelOrder)), as: __m128i.self)
            i += 16
        }
        return i
    }
}
#endif
