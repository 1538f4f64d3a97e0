// AVX-512 paths of the int8 kernels (F, BW, VL and VNNI), compiled where the build defines
// FERCC_AVX512 (with FERCC_AVX2, and -march=x86-64-v4 -mavx512vnni or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX512/Requantize+AVX512.swift

#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

extension Kernels {
    /// round(c) for floats with |c| <= 1000, half away from zero or half to even (`roundedAVX2`
    /// on 16 lanes, without the zero point and clamp): the rounding rule on the exact fraction
    /// left by truncation, its comparisons as mask registers (a > b from the sign of b - a: the
    /// fraction's bits with negative ones raised to 0 first, which no rule counts as a half, so no
    /// difference overflows).
    @inline(__always)
    static func roundedAVX512(_ c: __m512, halfToEven: Bool) -> __m512i {
        let one = _mm512_set1_epi32(1), halfBits = _mm512_set1_epi32(Int32(bitPattern: Float(0.5).bitPattern))
        @inline(__always) func greater(_ a: __m512i, _ b: __m512i) -> __mmask16 {
            _mm512_movepi32_mask(_mm512_sub_epi32(b, a))
        }
        let t = _mm512_cvttps_epi32(c)
        let f = _mm512_sub_ps(c, _mm512_cvtepi32_ps(t))  // exact, in (-1, 1)
        // The bits of f and of -f, each 0 where negative (then no rule below rounds that way).
        let zero = _mm512_setzero_si512()
        let fBits = _mm512_max_epi32(_mm512_castps_si512(f), zero)
        let gBits = _mm512_max_epi32(_mm512_castps_si512(_mm512_sub_ps(_mm512_setzero_ps(), f)), zero)
        let up: __mmask16, down: __mmask16
        if halfToEven {
            @inline(__always) func equal(_ a: __m512i, _ b: __m512i) -> __mmask16 {
                let d = _mm512_xor_si512(a, b)
                return _mm512_testn_epi32_mask(d, d)
            }
            let odd = _mm512_test_epi32_mask(t, one)
            up = greater(fBits, halfBits) | (equal(fBits, halfBits) & odd)
            down = greater(gBits, halfBits) | (equal(gBits, halfBits) & odd)
        } else {
            up = greater(fBits, _mm512_sub_epi32(halfBits, one))
            down = greater(gBits, _mm512_sub_epi32(halfBits, one))
        }
        let r = _mm512_mask_add_epi32(t, up, t, one)
        return _mm512_mask_sub_epi32(r, down, r, one)
    }

    /// `quantizeAVX2` on 16 lanes per step: the same float division, NaN to 0, magnitudes clamped
    /// to 1000, then `roundedAVX512`, the zero point, the int32 clamp and `vpmovdb`. The AVX2 loop
    /// took 4.5% of ShuffleNetV2's int8 inference quantizing its 224x224x3 input. Returns how
    /// many elements it wrote.
    static func quantizeAVX512(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32,
        halfToEven: Bool
    ) -> Int {
        let s = _mm512_set1_ps(scale)
        let limit = _mm512_set1_ps(1000), negLimit = _mm512_set1_ps(-1000)
        let absMask = _mm512_set1_epi32(0x7FFF_FFFF), infBits = _mm512_set1_epi32(0x7F80_0000)
        let zp = _mm512_set1_epi32(zeroPoint), lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127)
        var i = 0
        while i + 16 <= count {
            let v = _mm512_div_ps(UnsafeRawPointer(x + i).loadUnaligned(as: __m512.self), s)
            let bits = _mm512_castps_si512(v)
            // NaN (magnitude bits above infinity's: a > b from the sign of b - a) to 0, then clamped.
            let nan = _mm512_movepi32_mask(_mm512_sub_epi32(infBits, _mm512_and_si512(bits, absMask)))
            let c = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_mov_ps(~nan, v), negLimit), limit)
            let r = roundedAVX512(c, halfToEven: halfToEven)
            let q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, zp), lo), hi)
            UnsafeMutableRawPointer(y + i).storeBytes(of: _mm512_cvtepi32_epi8(q), as: __m128i.self)
            i += 16
        }
        return i
    }

    /// `rescaleAVX2` on 16 lanes, 64 elements per step (a concatenation's inputs whose parameters
    /// differ from the output's: ShuffleNetV2's fercc-quantized concatenations took 0.18 of its
    /// 1.47 ms with the 8-lane loop, 0.14 with this): the same float multiply, then add,
    /// magnitudes clamped to 1000, `roundedAVX512` half away from zero, the zero point, then
    /// `storeBytesAVX512` (whose saturation is the int8 clamp). Returns how many it wrote.
    static func rescaleAVX512(
        _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, bias: Float,
        outputZeroPoint: Int32
    ) -> Int {
        let s = _mm512_set1_ps(scale), b = _mm512_set1_ps(bias)
        let limit = _mm512_set1_ps(1000), negLimit = _mm512_set1_ps(-1000)
        let zp = _mm512_set1_epi32(outputZeroPoint)
        /// Round half away from zero plus the zero point, in int32 (|result| <= 1128).
        @inline(__always) func sixteen(_ i: Int) -> __m512i {
            let q = _mm512_cvtepi8_epi32(UnsafeRawPointer(x + i).loadUnaligned(as: __m128i.self))
            let v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), s), b)
            let c = _mm512_min_ps(_mm512_max_ps(v, negLimit), limit)
            return _mm512_add_epi32(roundedAVX512(c, halfToEven: false), zp)
        }
        return storeBytesAVX512(y, count: count, sixteen)
    }
}
#endif
