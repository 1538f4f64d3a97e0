// AVX-512 paths of the int8 kernels (F, BW, VL and VNNI), compiled where the build defines
// FERCC_AVX512 (with FERCC_AVX2, and -march=x86-64-v4 -mavx512vnni or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX512/Requantize+AVX512.swift Int8/AVX2/Binary+AVX2.swift

#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

extension Kernels {
    /// How `binaryAddAVX512` rounds each input's rescaling and the sum's: the folded rounding
    /// (`AVX512Rounding`) where it holds, the general one otherwise (a negative multiplier: the
    /// subtrahend's; no right shift). An input's lanes are (q + offset) << 20 with |q + offset| at
    /// most 255, and no rescaled input is larger, so the sum is at most 510 << 20 in magnitude.
    static func binaryRoundingsAVX512(
        m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32, sOut: Int, zeroPoint: Int32, min: Int32, max: Int32
    ) -> [AVX512Rounding] {
        let r = binaryRequantizations(
            m1: m1, s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut, zeroPoint: zeroPoint, min: min, max: max)
        return zip(r, [Int64(255) << 20, Int64(255) << 20, Int64(510) << 20]).map { r, bound in
            AVX512Rounding(r, channels: 1, simple: false, accumulatorBound: { _ in bound })
        }
    }

    /// `binaryAddAVX2` on 16 lanes per step: each input to the common fixed point, their sum to the
    /// output, all three TFLite's requantization on 512-bit lanes (`roundings`:
    /// `binaryRoundingsAVX512`), but for an input whose multiplier is +-2^30 with shift 0
    /// (`halves1`, `halves2`: the input with the larger scale always is) a shift instead. Returns
    /// how many elements it wrote.
    static func binaryAddAVX512(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        offset1: Int32, offset2: Int32, leftShift: Int32, halves1: Int32, halves2: Int32,
        tables: UnsafePointer<Int32>, roundings: [AVX512Rounding], zeroPoint: Int32, min: Int32, max: Int32
    ) -> Int {
        let off1 = _mm512_set1_epi32(offset1), off2 = _mm512_set1_epi32(offset2)
        // The inputs' lanes have no zero point or clamp.
        let o1 = AVX512Output(zeroPoint: 0, min: -128, max: 127, leftShift: false, rounding: roundings[0])
        let o2 = AVX512Output(zeroPoint: 0, min: -128, max: 127, leftShift: false, rounding: roundings[1])
        let o = AVX512Output(zeroPoint: zeroPoint, min: min, max: max, leftShift: false, rounding: roundings[2])
        let t1 = tables, t2 = tables + AVX2Table.stride, tOut = tables + 2 * AVX2Table.stride
        @inline(__always) func scaled(
            _ x: UnsafePointer<Int8>, _ offset: __m512i, _ halves: Int32, _ t: UnsafePointer<Int32>,
            _ o: AVX512Output
        ) -> __m512i {
            let v = _mm512_add_epi32(_mm512_cvtepi8_epi32(UnsafeRawPointer(x).loadUnaligned(as: __m128i.self)), offset)
            if halves != 0 {
                return _mm512_slli_epi32(
                    halves > 0 ? v : _mm512_sub_epi32(_mm512_setzero_si512(), v), UInt32(leftShift - 1))
            }
            return o.multiply(_mm512_slli_epi32(v, UInt32(leftShift)), table: t)
        }
        var i = 0
        while i + 16 <= count {
            let sum = _mm512_add_epi32(scaled(a + i, off1, halves1, t1, o1), scaled(b + i, off2, halves2, t2, o2))
            UnsafeMutableRawPointer(y + i).storeBytes(of: requantize16AVX512(sum, table: tOut, o), as: __m128i.self)
            i += 16
        }
        return i
    }

    /// `binaryAddFloatAVX2` on 16 lanes per vector, 64 elements per step: the same float steps
    /// (two multiply-adds, the clamp to integral bounds, rounding to nearest even), stored by
    /// `storeBytesAVX512`. Returns how many elements it wrote.
    static func binaryAddFloatAVX512(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        ma: Float, mb: Float, c: Float, lo: Float, hi: Float
    ) -> Int {
        let vma = _mm512_set1_ps(ma), vmb = _mm512_set1_ps(mb), vc = _mm512_set1_ps(c)
        let vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi)
        @inline(__always) func sixteen(_ i: Int) -> __m512i {
            let x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(UnsafeRawPointer(a + i).loadUnaligned(as: __m128i.self)))
            let z = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(UnsafeRawPointer(b + i).loadUnaligned(as: __m128i.self)))
            let v = _mm512_fmadd_ps(x, vma, _mm512_fmadd_ps(z, vmb, vc))
            return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, vlo), vhi))
        }
        return storeBytesAVX512(y, count: count, sixteen)
    }
}
#endif
