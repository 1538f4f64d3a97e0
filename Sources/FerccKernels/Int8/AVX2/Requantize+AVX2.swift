// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/Requantization.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    @inline(__always)
    static func loadM256(_ p: UnsafeRawPointer) -> __m256i { p.loadUnaligned(as: __m256i.self) }

    /// The AVX2 kernels' requantization table: per block of 16 output channels, parts of 16 int32
    /// lanes (in the accumulators' lane order) at these offsets.
    enum AVX2Table {
        static let bias = 0, multiplier = 16, multiplierOdd = 32, rightShift = 48, mask = 64, threshold = 80,
            leftShift = 96, half = 112
        /// For `requantizeFoldedAVX2`: per lane the 64-bit constant 2^30 + (2^(shift-1) + zero point *
        /// 2^shift) * 2^31, for the even lanes of each 8 and the odd ones (4 int64 per 8 lanes each),
        /// and the bound under which an accumulator counts as negative.
        static let roundEven = 128, roundOdd = 144, negativeBelow = 160
        /// The float scales' bits when the scaling is float (`Requantization.floatScales`).
        static let scale = 176
        /// For `requantizeFoldedAVX512` without its [a < 0]: per lane the 64-bit arithmetic shift
        /// from the 64-bit product to the lane's bits, 31 + shift for the even lanes of each 8 and
        /// shift - 1 for the odd ones (whose result is the product's high half), laid out as
        /// `roundEven` and `roundOdd`.
        static let shiftEven = 192, shiftOdd = 208
        static let stride = 224

        /// The table from the channel each lane holds (nil past the last channel), the folded
        /// biases by channel and the requantization.
        static func make(blocks: Int, channelOfLane: (Int) -> Int?, bias folded: [Int32], _ r: Requantization)
            -> [Int32]
        {
            var t = [Int32](repeating: 0, count: blocks * stride)
            for lane in 0..<(blocks * 16) {
                guard let c = channelOfLane(lane) else { continue }
                let q = r.multipliers.count > 1 ? c : 0
                let base = (lane / 16) * stride, l = lane % 16
                let right = max(-r.shifts[q], 0)
                t[base + bias + l] = folded[c]
                t[base + multiplier + l] = r.multipliers[q]
                t[base + leftShift + l] = Int32(max(r.shifts[q], 0))
                t[base + rightShift + l] = Int32(right)
                t[base + mask + l] = Int32(truncatingIfNeeded: (Int64(1) << right) - 1)
                t[base + threshold + l] = Int32(truncatingIfNeeded: ((Int64(1) << right) - 1) >> 1)
                t[base + half + l] = right > 0 ? Int32(truncatingIfNeeded: Int64(1) << (right - 1)) : 0
                // (Wrapping: the constants are only used where `foldedRoundingAVX2` holds, and then fit.)
                let round =
                    (Int64(1) << 30) &+ foldedRoundingOffset(right: right, zeroPoint: r.outputZeroPoint)
                    &* (Int64(1) << 31)
                let at = base + (l % 2 == 0 ? roundEven : roundOdd) + (l / 8) * 8 + (l % 8) / 2 * 2
                t[at] = Int32(truncatingIfNeeded: round)
                t[at + 1] = Int32(truncatingIfNeeded: round >> 32)
                t[at + shiftEven - roundEven] = Int32(l % 2 == 0 ? 31 + right : max(right - 1, 0))
                // Below 0 (a < 0): where h is 0 all the same (a = -1, m <= 2^30), taking 1 off before a
                // right shift changes nothing; with no right shift, never.
                t[base + negativeBelow + l] = right == 0 ? Int32.min : 0
                if let f = r.floatScales { t[base + scale + l] = Int32(bitPattern: f[q].bitPattern) }
            }
            // The odd lanes' multipliers where the 32x32->64-bit multiply reads them (even positions).
            for b in 0..<blocks {
                for l in Swift.stride(from: 0, to: 16, by: 2) {
                    t[b * stride + multiplierOdd + l] = t[b * stride + multiplier + l + 1]
                }
            }
            return t
        }
    }

    /// TFLite's MultiplyByQuantizedMultiplier on 8 int32 lanes (`t`: the table at the lanes' first
    /// entry), same bits as the scalar version: its doubling high multiply is
    /// floor((a * m + 2^30) / 2^31) (what the scalar nudge and truncating division compute, for
    /// either sign of a * m; the one saturating case, a = m = Int32.min, needs a multiplier no
    /// quantizeMultiplier gives), here from two 32x32->64-bit multiplies (even and odd lanes); then
    /// the rounding (half away from zero) right shift, with mask and threshold from the table.
    @inline(__always)
    static func multiplyByQuantizedMultiplierAVX2(_ x: __m256i, _ t: UnsafePointer<Int32>, leftShift: Bool) -> __m256i {
        @inline(__always) func part(_ i: Int) -> __m256i { loadM256(UnsafeRawPointer(t + i)) }
        let a = leftShift ? _mm256_sllv_epi32(x, part(AVX2Table.leftShift)) : x
        let half = _mm256_set1_epi64x(1 << 30)
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, part(AVX2Table.multiplier)), half)
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), part(AVX2Table.multiplierOdd)), half)
        // Bits 31...62 of each product: into the low half of even lanes' 64 bits, the high half of odd ones'.
        let oddMask = _mm256_set1_epi64x(Int64(bitPattern: 0xFFFF_FFFF_0000_0000))
        let h = _mm256_blendv_epi8(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), oddMask)
        let remainder = _mm256_and_si256(h, part(AVX2Table.mask))
        let threshold = _mm256_sub_epi32(part(AVX2Table.threshold), _mm256_srai_epi32(h, 31))  // + 1 when h < 0
        // + 1 when remainder > threshold (both in [0, mask], so the difference cannot overflow).
        return _mm256_sub_epi32(
            _mm256_srav_epi32(h, part(AVX2Table.rightShift)),
            _mm256_srai_epi32(_mm256_sub_epi32(threshold, remainder), 31))
    }

    /// Whether `requantizeFoldedAVX2` gives TFLite's requantization plus the zero point for every
    /// channel: fixed-point scaling, no left shift, a non-negative multiplier, and no doubling high product of an
    /// accumulator (at most `accumulatorBound` in magnitude) plus 2^(shift-1) + zero point * 2^shift
    /// can leave int32 (the doubling high multiply never grows a magnitude by more than 1).
    static func foldedRoundingAVX2(_ r: Requantization, channels: Int, accumulatorBound: (Int) -> Int64) -> Bool {
        guard r.floatScales == nil else { return false }
        return (0..<channels).allSatisfy { c in
            let q = r.multipliers.count > 1 ? c : 0
            let right = -r.shifts[q]
            guard right >= 0 && right <= 30 && r.multipliers[q] >= 0 else { return false }
            return accumulatorBound(c) + 2 + abs(foldedRoundingOffset(right: right, zeroPoint: r.outputZeroPoint))
                < Int64(1) << 31
        }
    }

    /// 2^(right-1) + zero point * 2^right (no 2^(right-1) without a right shift): what
    /// `requantizeFoldedAVX2` adds to the doubling high product before its shift. (Wrapping, for the
    /// table's lanes that never use it; exact for right <= 32.)
    static func foldedRoundingOffset(right: Int, zeroPoint: Int32) -> Int64 {
        (right > 0 ? Int64(1) << (right - 1) : 0) &+ Int64(zeroPoint) &* (Int64(1) << min(right, 32))
    }

    /// TFLite's requantization plus the output zero point on 8 int32 lanes (`t`: the table at the
    /// lanes' first entry) where `foldedRoundingAVX2` holds: the rounding half away from zero of
    /// h / 2^shift (h the doubling high product) is floor((h + 2^(shift-1) - [h < 0]) / 2^shift),
    /// and adding zero point * 2^shift inside the floor adds the zero point; the constant part rides
    /// on the 64-bit products (floor((y + k * 2^31) / 2^31) = floor(y / 2^31) + k for integer k), and
    /// [h < 0] is [a < 0] (m >= 0; where they differ h is 0 and the shift drops the 1). Eleven
    /// instructions instead of fifteen plus the zero point's add. `negatives: false` leaves the
    /// [a < 0] out (two instructions) where the clamp after it makes that the same bytes
    /// (`AVX2Output.negatives`).
    @inline(__always)
    static func requantizeFoldedAVX2(_ a: __m256i, _ t: UnsafePointer<Int32>, negatives: Bool) -> __m256i {
        @inline(__always) func part(_ i: Int) -> __m256i { loadM256(UnsafeRawPointer(t + i)) }
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, part(AVX2Table.multiplier)), part(AVX2Table.roundEven))
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64(a, 32), part(AVX2Table.multiplierOdd)), part(AVX2Table.roundOdd))
        let oddMask = _mm256_set1_epi64x(Int64(bitPattern: 0xFFFF_FFFF_0000_0000))
        let h = _mm256_blendv_epi8(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), oddMask)
        if !negatives { return _mm256_srav_epi32(h, part(AVX2Table.rightShift)) }
        let negative = _mm256_cmpgt_epi32(part(AVX2Table.negativeBelow), a)  // -1 where a < 0 (and a right shift)
        return _mm256_srav_epi32(_mm256_add_epi32(h, negative), part(AVX2Table.rightShift))
    }

    /// `QuantizedMath.scaleInFloat` on 8 int32 lanes with the table's float scales: convert, multiply,
    /// clamp to +-2^16, convert back rounding half to even (the default MXCSR rounding).
    @inline(__always)
    static func scaleInFloatAVX2(_ x: __m256i, _ t: UnsafePointer<Int32>) -> __m256i {
        let v = _mm256_mul_ps(
            _mm256_cvtepi32_ps(x), _mm256_castsi256_ps(loadM256(UnsafeRawPointer(t + AVX2Table.scale))))
        return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-65536)), _mm256_set1_ps(65536)))
    }

    /// The dword order that puts the bytes of `requantize16AVX2` back in channel order: for
    /// accumulators holding channels 0-7 and 8-15 (`channelOrder`), or channels 0-3, 8-11 and 4-7,
    /// 12-15 as the depthwise kernel's interleaved multiply-adds leave them (`interleavedOrder`).
    static var channelOrder: __m256i { _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0) }
    static var interleavedOrder: __m256i { _mm256_setr_epi32(0, 1, 4, 5, 0, 0, 0, 0) }

    /// The output side of a requantization: zero point (int16 lanes), clamp bounds (int8 lanes), and
    /// whether any channel shifts left.
    struct AVX2Output {
        let zeroPoint: __m256i, lo: __m256i, hi: __m256i
        let leftShift: Bool
        /// Whether the table's channels take `requantizeFoldedAVX2` (`foldedRoundingAVX2`).
        let folded: Bool
        /// Whether the scaling is float (`scaleInFloatAVX2`).
        let float: Bool
        /// Whether `requantizeFoldedAVX2` takes 1 off negative accumulators' lanes before its
        /// shift: not when the clamp's lower bound is at least the zero point (ReLU, ReLU6), where
        /// a negative accumulator's lane is at most the zero point either way (its doubling high
        /// product is at most 0: the multiplier is not negative) and the clamp makes both the bound.
        let negatives: Bool
        /// The scan of every channel's shift runs only for the general rounding, the one that reads it.
        init(_ r: Requantization, folded: Bool = false) {
            let float = r.floatScales != nil
            self.init(
                zeroPoint: r.outputZeroPoint, min: r.min, max: r.max,
                leftShift: !float && !folded && r.shifts.contains { $0 > 0 }, folded: folded, float: float)
        }
        init(zeroPoint: Int32, min: Int32, max: Int32, leftShift: Bool, folded: Bool = false, float: Bool = false) {
            self.zeroPoint = _mm256_set1_epi16(Int16(truncatingIfNeeded: zeroPoint))
            lo = _mm256_set1_epi8(Int8(truncatingIfNeeded: min))
            hi = _mm256_set1_epi8(Int8(truncatingIfNeeded: max))
            self.leftShift = leftShift
            self.folded = folded && !float
            self.float = float
            negatives = min < zeroPoint
        }
    }

    /// 16 accumulators (two vectors of 8, lanes as in the block's table `t`) requantized with the
    /// zero point, saturated to int16 lanes [a0 0-3, a1 0-3 | a0 4-7, a1 4-7]: folded or general
    /// rounding or float scaling as `o` says.
    @inline(__always)
    static func requantizedWordsAVX2(_ a0: __m256i, _ a1: __m256i, _ t: UnsafePointer<Int32>, _ o: AVX2Output)
        -> __m256i
    {
        if o.folded {
            return _mm256_packs_epi32(
                requantizeFoldedAVX2(a0, t, negatives: o.negatives),
                requantizeFoldedAVX2(a1, t + 8, negatives: o.negatives))
        }
        if o.float {
            return _mm256_adds_epi16(
                _mm256_packs_epi32(scaleInFloatAVX2(a0, t), scaleInFloatAVX2(a1, t + 8)), o.zeroPoint)
        }
        return _mm256_adds_epi16(
            _mm256_packs_epi32(
                multiplyByQuantizedMultiplierAVX2(a0, t, leftShift: o.leftShift),
                multiplyByQuantizedMultiplierAVX2(a1, t + 8, leftShift: o.leftShift)), o.zeroPoint)
    }

    /// Requantizes 16 accumulators that already hold the bias (two vectors of 8, lanes as in the
    /// block's table `t`), adds the zero point, clamps, and returns the 16 bytes in channel order.
    /// The saturating packs give the int32 clamp's result: a value past int16 saturates at +-32767,
    /// which the zero point (within int8) cannot bring back into int8.
    @inline(__always)
    static func requantize16AVX2(
        _ a0: __m256i, _ a1: __m256i, table t: UnsafePointer<Int32>, _ o: AVX2Output,
        order: __m256i = channelOrder
    ) -> __m128i {
        // Bytes [words' low 8, 8 zeros | words' high 8, 8 zeros].
        let bytes = _mm256_min_epi8(
            _mm256_max_epi8(_mm256_packs_epi16(requantizedWordsAVX2(a0, a1, t, o), _mm256_setzero_si256()), o.lo), o.hi)
        return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, order))
    }

    /// `requantize16AVX2` for two pixels at once (`a0`, `a1` the first one's accumulators, `b0`, `b1`
    /// the second's), sharing the narrowing steps, and stores their first `valid` bytes at `out` and
    /// `out + next`. `order`: the dword order of `pairChannelOrder` or `pairInterleavedOrder`.
    @inline(__always)
    static func requantizePairAVX2(
        _ a0: __m256i, _ a1: __m256i, _ b0: __m256i, _ b1: __m256i, table t: UnsafePointer<Int32>, _ o: AVX2Output,
        order: __m256i, _ out: UnsafeMutablePointer<Int8>, next: Int, valid: Int
    ) {
        // dwords [a0 0-3, a1 0-3, b0 0-3, b1 0-3 | a0 4-7, a1 4-7, b0 4-7, b1 4-7]
        let bytes = _mm256_min_epi8(
            _mm256_max_epi8(
                _mm256_packs_epi16(requantizedWordsAVX2(a0, a1, t, o), requantizedWordsAVX2(b0, b1, t, o)), o.lo), o.hi)
        let halves = unsafeBitCast(_mm256_permutevar8x32_epi32(bytes, order), to: (__m128i, __m128i).self)
        store16(halves.0, out, valid: valid)
        store16(halves.1, out + next, valid: valid)
    }

    /// The dword orders of `requantizePairAVX2` for accumulators in channel order (`channelOrder`)
    /// and in the depthwise kernel's interleaved order (`interleavedOrder`).
    static var pairChannelOrder: __m256i { _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7) }
    static var pairInterleavedOrder: __m256i { _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7) }

    /// Stores the first `valid` (1...16) of 16 bytes: one byte-masked store in AVX-512 builds; an
    /// 8-byte store and single bytes otherwise.
    @inline(__always)
    static func store16(_ bytes: __m128i, _ out: UnsafeMutablePointer<Int8>, valid: Int) {
        if valid == 16 {
            UnsafeMutableRawPointer(out).storeBytes(of: bytes, as: __m128i.self)
        } else {
            #if FERCC_AVX512
            _mm_mask_storeu_epi8(out, UInt16(truncatingIfNeeded: (1 << valid) - 1), bytes)
            #else
            let v = unsafeBitCast(bytes, to: SIMD16<Int8>.self)
            var i = 0
            if valid >= 8 {
                UnsafeMutableRawPointer(out).storeBytes(
                    of: unsafeBitCast(bytes, to: SIMD2<UInt64>.self)[0], as: UInt64.self)
                i = 8
            }
            while i < valid { out[i] = v[i]; i += 1 }
            #endif
        }
    }

    @inline(__always)
    static func broadcastPair(_ p: UnsafePointer<Int16>) -> __m256i {
        _mm256_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
    }
}
#endif
