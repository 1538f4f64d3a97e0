// AVX-512 paths of the int8 kernels (F, BW, VL and VNNI), compiled where the build defines
// FERCC_AVX512 (with FERCC_AVX2, and -march=x86-64-v4 -mavx512vnni or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift

#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

extension Kernels {
    @inline(__always)
    static func loadM512(_ p: UnsafeRawPointer) -> __m512i { p.loadUnaligned(as: __m512i.self) }

    /// The output side of a requantization on 16 int32 lanes: zero point and clamp bounds.
    struct AVX512Output {
        let zeroPoint: __m512i, lo: __m512i, hi: __m512i
        /// The same in 16-bit lanes (zero point) and bytes (bounds), for `narrowPairsAVX512`.
        let zeroPoint16: __m512i, lo8: __m512i, hi8: __m512i
        /// Whether the bounds are narrower than int8's (the saturating packs clamp to int8 already).
        let clamps: Bool
        let leftShift: Bool
        /// How `multiply` scales.
        let rounding: AVX512Rounding
        /// Whether `multiply` is `requantizeFoldedAVX512`, whose lanes hold the zero point already.
        var folded: Bool { rounding == .folded || rounding == .foldedClamped }
        /// The convolution kernels build it once and keep it: built on every call (and band), it
        /// copied the requantization's three arrays, retaining them, and scanned every channel's
        /// shift (1% of MobileNetV2's int8 time). The scan runs only for the roundings that read it.
        init(_ r: Requantization, rounding: AVX512Rounding) {
            let shifts = rounding == .simple || rounding == .general
            self.init(
                zeroPoint: r.outputZeroPoint, min: r.min, max: r.max,
                leftShift: shifts && r.shifts.contains { $0 > 0 }, rounding: rounding)
        }
        init(zeroPoint: Int32, min: Int32, max: Int32, leftShift: Bool, rounding: AVX512Rounding) {
            self.rounding = rounding
            self.leftShift = leftShift
            self.zeroPoint = _mm512_set1_epi32(zeroPoint)
            lo = _mm512_set1_epi32(min)
            hi = _mm512_set1_epi32(max)
            zeroPoint16 = _mm512_set1_epi16(Int16(truncatingIfNeeded: zeroPoint))
            lo8 = _mm512_set1_epi8(Int8(truncatingIfNeeded: min))
            hi8 = _mm512_set1_epi8(Int8(truncatingIfNeeded: max))
            clamps = min > -128 || max < 127
        }

        /// `scaleInFloatAVX512`, `requantizeFoldedAVX512` (the zero point included) or
        /// `multiplyByQuantizedMultiplierAVX512` with this requantization's shifts and rounding.
        @inline(__always)
        func multiply(_ x: __m512i, table t: UnsafePointer<Int32>) -> __m512i {
            switch rounding {
            case .float: return scaleInFloatAVX512(x, table: t)
            case .folded: return requantizeFoldedAVX512(x, table: t, negatives: true)
            case .foldedClamped: return requantizeFoldedAVX512(x, table: t, negatives: false)
            case .simple, .general:
                return multiplyByQuantizedMultiplierAVX512(
                    x, table: t, leftShift: leftShift, simpleRounding: rounding == .simple)
            }
        }
    }

    /// How a requantization on 16 lanes scales and rounds, chosen per layer from its parameters.
    enum AVX512Rounding {
        /// Float scales (`QuantizedMath.scaleInFloat`, the table's `scale` part).
        case float
        /// `requantizeFoldedAVX512` (`foldedRoundingAVX2` holds for every channel, and every
        /// channel shifts right).
        case folded
        /// `requantizeFoldedAVX512` without the 1 it takes off negative accumulators' lanes, for
        /// a layer whose clamp's lower bound is at least its zero point (ReLU, ReLU6): a negative
        /// accumulator's doubling high product h is at most 0 (the multiplier is not negative), so
        /// floor((h + 2^(shift-1)) / 2^shift) is at most 0 and the lane at most the zero point with
        /// or without the 1; the clamp (or the packs' saturation, when the bound is -128) makes
        /// both the bound.
        case foldedClamped
        /// The add-and-shift rounding of `multiplyByQuantizedMultiplierAVX512`
        /// (`QuantizedConvParameters.simpleRounding`).
        case simple
        /// TFLite's rounding right shift with mask and threshold.
        case general

        /// For a layer of `channels` outputs whose accumulators are at most `accumulatorBound` in
        /// magnitude, and whether the simple rounding holds.
        init(_ r: Requantization, channels: Int, simple: Bool, accumulatorBound: (Int) -> Int64) {
            if r.floatScales != nil {
                self = .float
            } else if foldedRoundingAVX2(r, channels: channels, accumulatorBound: accumulatorBound)
                && r.shifts.allSatisfy({ $0 <= -1 })
            {
                self = r.min >= r.outputZeroPoint ? .foldedClamped : .folded
            } else {
                self = simple ? .simple : .general
            }
        }
    }

    /// A vector of dword indices in lane order (the rest zero). Arguments, not an array: the
    /// kernels build these per call, and an array cost heap allocations each time.
    @inline(__always)
    static func dwordsAVX512(
        _ l0: Int32, _ l1: Int32, _ l2: Int32, _ l3: Int32, _ l4: Int32, _ l5: Int32, _ l6: Int32, _ l7: Int32,
        _ l8: Int32 = 0, _ l9: Int32 = 0, _ l10: Int32 = 0, _ l11: Int32 = 0, _ l12: Int32 = 0, _ l13: Int32 = 0,
        _ l14: Int32 = 0, _ l15: Int32 = 0
    ) -> __m512i {
        _mm512_set_epi32(l15, l14, l13, l12, l11, l10, l9, l8, l7, l6, l5, l4, l3, l2, l1, l0)
    }

    /// Four vectors of requantized int32 lanes (before the zero point, or with it when `o.folded`)
    /// as bytes: packed with saturation to 16 bits (`v0` with `v1`, `v2` with `v3`), the zero point
    /// added with saturation (unless folded), packed to bytes, clamped; 128-bit lane i then holds
    /// lane i's four dwords of v0, v1, v2, v3 in turn, for the caller to put in order. The result
    /// is the int32 clamp's: a value past int16 saturates at +-32767, which the zero point (within
    /// int8) cannot bring back into int8.
    @inline(__always)
    static func packBytesAVX512(_ v0: __m512i, _ v1: __m512i, _ v2: __m512i, _ v3: __m512i, _ o: AVX512Output)
        -> __m512i
    {
        var w01 = _mm512_packs_epi32(v0, v1), w23 = _mm512_packs_epi32(v2, v3)
        if !o.folded {
            w01 = _mm512_adds_epi16(w01, o.zeroPoint16)
            w23 = _mm512_adds_epi16(w23, o.zeroPoint16)
        }
        let b = _mm512_packs_epi16(w01, w23)
        return o.clamps ? _mm512_min_epi8(_mm512_max_epi8(b, o.lo8), o.hi8) : b
    }

    /// The int32 lanes `sixteen(i)` gives for elements i ..< i + 16 as bytes with saturation, for
    /// i = 0, 16, ... while 16 more fit in `count`: four vectors per 64-byte step, packed and put
    /// in order by one permute (`vpmovdb` straight to memory, which the compiler makes of a
    /// narrowing store, took a quarter of the float add's loop), then 16 at a time
    /// (`vpmovsdb`). Returns how many it wrote.
    @inline(__always)
    static func storeBytesAVX512(_ y: UnsafeMutablePointer<Int8>, count: Int, _ sixteen: (Int) -> __m512i) -> Int {
        // After the packs 128-bit lane i holds dwords i of each vector in turn (4 bytes each).
        let order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0)
        var i = 0
        while i + 64 <= count {
            let w01 = _mm512_packs_epi32(sixteen(i), sixteen(i + 16))
            let w23 = _mm512_packs_epi32(sixteen(i + 32), sixteen(i + 48))
            let bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23))
            UnsafeMutableRawPointer(y + i).storeBytes(of: bytes, as: __m512i.self)
            i += 64
        }
        while i + 16 <= count {
            UnsafeMutableRawPointer(y + i).storeBytes(of: _mm512_cvtsepi32_epi8(sixteen(i)), as: __m128i.self)
            i += 16
        }
        return i
    }

    /// Two pixels' 32 requantized channels each (`p0`, `p1` the first pixel's two vectors, `q0`,
    /// `q1` the second's) as bytes (`packBytesAVX512`), put in order by `orderP` / `orderQ` (dword
    /// indices): the first pixel's 32 bytes and the second's, each in the low half.
    @inline(__always)
    static func narrowPairsAVX512(
        _ p0: __m512i, _ p1: __m512i, _ q0: __m512i, _ q1: __m512i, _ o: AVX512Output,
        orderP: __m512i, orderQ: __m512i
    ) -> (__m256i, __m256i) {
        let b = packBytesAVX512(p0, p1, q0, q1, o)
        return (
            _mm512_castsi512_si256(_mm512_permutexvar_epi32(orderP, b)),
            _mm512_castsi512_si256(_mm512_permutexvar_epi32(orderQ, b))
        )
    }

    /// Stores the first `valid` (1...32) bytes of each of two pixels' 32, at `out` and `out + next`.
    @inline(__always)
    static func storePairAVX512(_ bp: __m256i, _ bq: __m256i, _ out: UnsafeMutablePointer<Int8>, next: Int, valid: Int)
    {
        if valid == 32 {
            UnsafeMutableRawPointer(out).storeBytes(of: bp, as: __m256i.self)
            UnsafeMutableRawPointer(out + next).storeBytes(of: bq, as: __m256i.self)
        } else {
            let mask = UInt32(truncatingIfNeeded: (1 << valid) - 1)
            _mm256_mask_storeu_epi8(out, mask, bp)
            _mm256_mask_storeu_epi8(out + next, mask, bq)
        }
    }

    /// `multiplyByQuantizedMultiplierAVX2` on 16 lanes at once (the same table, whose parts are 16
    /// lanes wide). `simpleRounding`: see `QuantizedConvParameters.simpleRounding`.
    @inline(__always)
    static func multiplyByQuantizedMultiplierAVX512(
        _ x: __m512i, table t: UnsafePointer<Int32>, leftShift: Bool, simpleRounding: Bool
    ) -> __m512i {
        @inline(__always) func part(_ i: Int) -> __m512i { loadM512(UnsafeRawPointer(t + i)) }
        let a = leftShift ? _mm512_sllv_epi32(x, part(AVX2Table.leftShift)) : x
        let half = _mm512_set1_epi64(1 << 30)
        let even = _mm512_add_epi64(_mm512_mul_epi32(a, part(AVX2Table.multiplier)), half)
        let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), part(AVX2Table.multiplierOdd)), half)
        // Bits 31...62 of each product: even lanes from the low half of their 64 bits, odd from the high.
        let h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1))
        if simpleRounding {
            // (h + 2^(shift-1) - [h < 0]) >> shift: the same rounding in four instructions, when
            // every shift is at least 1 and the sum cannot overflow (checked from the weights).
            return _mm512_srav_epi32(
                _mm512_add_epi32(_mm512_add_epi32(h, part(AVX2Table.half)), _mm512_srai_epi32(h, 31)),
                part(AVX2Table.rightShift))
        }
        let remainder = _mm512_and_si512(h, part(AVX2Table.mask))
        let threshold = _mm512_sub_epi32(part(AVX2Table.threshold), _mm512_srai_epi32(h, 31))  // + 1 when h < 0
        return _mm512_sub_epi32(
            _mm512_srav_epi32(h, part(AVX2Table.rightShift)),
            _mm512_srai_epi32(_mm512_sub_epi32(threshold, remainder), 31))
    }

    /// `requantizeFoldedAVX2` on 16 lanes (the same table: its `roundEven` and `roundOdd` parts
    /// hold the 64-bit constants of lanes 0, 2, ... 14 and 1, 3, ... 15 in order, which is where
    /// 512-bit 64-bit lanes read them): TFLite's requantization plus the zero point, where
    /// `foldedRoundingAVX2` holds and every lane shifts right by at least 1. Eleven instructions;
    /// `multiplyByQuantizedMultiplierAVX512`'s add-and-shift rounding takes twelve and the zero
    /// point's add after it. `negatives: false` leaves out the [a < 0] that rounds ties away
    /// from zero below it and shifts the 64-bit sums directly: eight instructions
    /// (`AVX512Rounding.foldedClamped` says when the clamp after it makes that the same bytes).
    @inline(__always)
    static func requantizeFoldedAVX512(_ a: __m512i, table t: UnsafePointer<Int32>, negatives: Bool) -> __m512i {
        @inline(__always) func part(_ i: Int) -> __m512i { loadM512(UnsafeRawPointer(t + i)) }
        let even = _mm512_add_epi64(_mm512_mul_epi32(a, part(AVX2Table.multiplier)), part(AVX2Table.roundEven))
        let odd = _mm512_add_epi64(
            _mm512_mul_epi32(_mm512_srli_epi64(a, 32), part(AVX2Table.multiplierOdd)), part(AVX2Table.roundOdd))
        if !negatives {
            // The 64-bit sums shifted right by 31 + shift: even lanes' in the low half of their 64
            // bits, odd lanes' in the high half (shifted by shift - 1).
            return _mm512_mask_blend_epi32(
                0xAAAA, _mm512_srav_epi64(even, part(AVX2Table.shiftEven)),
                _mm512_srav_epi64(odd, part(AVX2Table.shiftOdd)))
        }
        let h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1))
        // [a < 0]: every shift is at least 1 (`AVX512Rounding`), so the table's `negativeBelow`
        // is 0 in every lane and the sign bits are the mask.
        let negative = _mm512_movepi32_mask(a)
        return _mm512_srav_epi32(
            _mm512_mask_sub_epi32(h, negative, h, _mm512_set1_epi32(1)), part(AVX2Table.rightShift))
    }

    /// `QuantizedMath.scaleInFloat` on 16 lanes with the table's float scales (`scaleInFloatAVX2`
    /// at twice the width).
    @inline(__always)
    static func scaleInFloatAVX512(_ x: __m512i, table t: UnsafePointer<Int32>) -> __m512i {
        let v = _mm512_mul_ps(
            _mm512_cvtepi32_ps(x), _mm512_castsi512_ps(loadM512(UnsafeRawPointer(t + AVX2Table.scale))))
        return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-65536)), _mm512_set1_ps(65536)))
    }

    /// `multiplyByQuantizedMultiplierAVX512`, then the zero point (unless folded) and the clamp in
    /// int32 as the portable kernel, and the 16 bytes (vpmovdb truncates what the clamp left in
    /// int8 range).
    @inline(__always)
    static func requantize16AVX512(_ x: __m512i, table t: UnsafePointer<Int32>, _ o: AVX512Output) -> __m128i {
        let v = o.multiply(x, table: t)
        let z = _mm512_min_epi32(_mm512_max_epi32(o.folded ? v : _mm512_add_epi32(v, o.zeroPoint), o.lo), o.hi)
        return _mm512_cvtepi32_epi8(z)
    }
}
#endif
