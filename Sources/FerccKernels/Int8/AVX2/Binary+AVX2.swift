// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// The three requantizations of an int8 add or subtract (TFLite's: each input scaled to a
    /// common 2^-20 fixed point, then the sum to the output), as one-block tables; the output's
    /// with its zero point and bounds (`binaryRequantizations`).
    static func binaryTablesAVX2(
        m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32, sOut: Int, zeroPoint: Int32, min: Int32, max: Int32
    ) -> [Int32] {
        binaryRequantizations(
            m1: m1, s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut, zeroPoint: zeroPoint, min: min, max: max
        ).flatMap { AVX2Table.make(blocks: 1, channelOfLane: { _ in 0 }, bias: [0], $0) }
    }

    /// The inputs' requantizations (no zero point or clamp) and the output's.
    static func binaryRequantizations(
        m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32, sOut: Int, zeroPoint: Int32, min: Int32, max: Int32
    ) -> [Requantization] {
        [
            Requantization(multipliers: [m1], shifts: [s1], outputZeroPoint: 0, min: -128, max: 127),
            Requantization(multipliers: [m2], shifts: [s2], outputZeroPoint: 0, min: -128, max: 127),
            Requantization(multipliers: [mOut], shifts: [sOut], outputZeroPoint: zeroPoint, min: min, max: max)
        ]
    }

    /// `QuantizedBinaryKernel.apply` (add or subtract, no left shifts beyond the common 2^20) on
    /// `count` elements of two same-shape tensors, 16 at a time; the rest is left to the caller.
    /// `halves1`, `halves2`: see `QuantizedBinaryKernel.halves`. Returns how many elements it wrote.
    static func binaryAddAVX2(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        offset1: Int32, offset2: Int32, leftShift: Int32, halves1: Int32, halves2: Int32,
        tables: UnsafePointer<Int32>, _ o: AVX2Output
    ) -> Int {
        let off1 = _mm256_set1_epi32(offset1), off2 = _mm256_set1_epi32(offset2)
        let t1 = tables, t2 = tables + AVX2Table.stride, tOut = tables + 2 * AVX2Table.stride
        @inline(__always) func scaled(_ x: __m128i, _ off: __m256i, _ halves: Int32, _ t: UnsafePointer<Int32>)
            -> __m256i
        {
            let v = _mm256_add_epi32(_mm256_cvtepi8_epi32(x), off)
            if halves != 0 {
                return _mm256_slli_epi32(halves > 0 ? v : _mm256_sub_epi32(_mm256_setzero_si256(), v), leftShift - 1)
            }
            return multiplyByQuantizedMultiplierAVX2(_mm256_slli_epi32(v, leftShift), t, leftShift: false)
        }
        @inline(__always) func half(_ x: __m128i, _ z: __m128i) -> __m256i {
            _mm256_add_epi32(scaled(x, off1, halves1, t1), scaled(z, off2, halves2, t2))
        }
        var i = 0
        while i + 16 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: __m128i.self),
                z = UnsafeRawPointer(b + i).loadUnaligned(as: __m128i.self)
            let s0 = half(x, z), s1 = half(_mm_unpackhi_epi64(x, x), _mm_unpackhi_epi64(z, z))
            store16(requantize16AVX2(s0, s1, table: tOut, o), y + i, valid: 16)
            i += 16
        }
        return i
    }

    /// `QuantizedBinaryKernel.apply` in float arithmetic (add or subtract of same-shape tensors):
    /// per element min(max(a * ma + (b * mb + c), lo), hi), both products fused, rounded half to
    /// even; 16 elements at a time, the rest left to the caller. Returns how many it wrote.
    static func binaryAddFloatAVX2(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        ma: Float, mb: Float, c: Float, lo: Float, hi: Float
    ) -> Int {
        let vma = _mm256_set1_ps(ma), vmb = _mm256_set1_ps(mb), vc = _mm256_set1_ps(c)
        let vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi)
        @inline(__always) func eight(_ x: __m128i, _ z: __m128i) -> __m256i {
            let xf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(x)), zf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(z))
            let v = _mm256_fmadd_ps(xf, vma, _mm256_fmadd_ps(zf, vmb, vc))
            // Clamped to integral bounds before rounding: the same as clamping the rounded value.
            return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, vlo), vhi))
        }
        let order = channelOrder
        var i = 0
        while i + 16 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: __m128i.self),
                z = UnsafeRawPointer(b + i).loadUnaligned(as: __m128i.self)
            let s0 = eight(x, z), s1 = eight(_mm_unpackhi_epi64(x, x), _mm_unpackhi_epi64(z, z))
            // Words [s0 0-3, s1 0-3 | s0 4-7, s1 4-7], bytes [those, zeros | those, zeros], in order.
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(s0, s1), _mm256_setzero_si256())
            let ordered = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, order))
            UnsafeMutableRawPointer(y + i).storeBytes(of: ordered, as: __m128i.self)
            i += 16
        }
        return i
    }
}
#endif
