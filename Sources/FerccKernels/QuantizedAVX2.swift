// AVX2 paths of the int8 convolutions, through the compiler's own clang intrinsics module (no
// package). Compiled only where the build enables AVX2: the package defines FERCC_AVX2 when it
// builds for a host that has it (its kernels are built with -march=native; swiftc cannot compile
// these intrinsics for a CPU without AVX2), and generated code gets the condition resolved for
// its --target. They give the same bits as the portable kernels; tests compare both.
#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

/// Whether this build of the kernels runs the AVX2 int8 paths.
public let quantizedKernelsUseAVX2 = true

@inline(__always)
func loadM256(_ p: UnsafeRawPointer) -> __m256i { p.loadUnaligned(as: __m256i.self) }

/// The AVX2 kernels' requantization table: per block of 16 output channels, parts of 16 int32
/// lanes (in the accumulators' lane order) at these offsets.
enum AVX2Table {
    static let bias = 0, multiplier = 16, multiplierOdd = 32, rightShift = 48, mask = 64, threshold = 80, leftShift = 96, half = 112
    /// For `requantizeFoldedAVX2`: per lane the 64-bit constant 2^30 + (2^(shift-1) + zero point *
    /// 2^shift) * 2^31, for the even lanes of each 8 and the odd ones (4 int64 per 8 lanes each),
    /// and the bound under which an accumulator counts as negative.
    static let roundEven = 128, roundOdd = 144, negativeBelow = 160
    static let stride = 176

    /// The table from the channel each lane holds (nil past the last channel), the folded
    /// biases by channel and the requantization.
    static func make(blocks: Int, channelOfLane: (Int) -> Int?, bias folded: [Int32], _ r: Requantization) -> [Int32] {
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
            let round = (Int64(1) << 30) &+ foldedRoundingOffset(right: right, zeroPoint: r.outputZeroPoint) &* (Int64(1) << 31)
            let at = base + (l % 2 == 0 ? roundEven : roundOdd) + (l / 8) * 8 + (l % 8) / 2 * 2
            t[at] = Int32(truncatingIfNeeded: round)
            t[at + 1] = Int32(truncatingIfNeeded: round >> 32)
            // Below 0 (a < 0): where h is 0 all the same (a = -1, m <= 2^30), taking 1 off before a
            // right shift changes nothing; with no right shift, never.
            t[base + negativeBelow + l] = right == 0 ? Int32.min : 0
        }
        // The odd lanes' multipliers where the 32x32->64-bit multiply reads them (even positions).
        for b in 0..<blocks {
            for l in Swift.stride(from: 0, to: 16, by: 2) { t[b * stride + multiplierOdd + l] = t[b * stride + multiplier + l + 1] }
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
func multiplyByQuantizedMultiplierAVX2(_ x: __m256i, _ t: UnsafePointer<Int32>, leftShift: Bool) -> __m256i {
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
    return _mm256_sub_epi32(_mm256_srav_epi32(h, part(AVX2Table.rightShift)),
                            _mm256_srai_epi32(_mm256_sub_epi32(threshold, remainder), 31))
}

/// Whether `requantizeFoldedAVX2` gives TFLite's requantization plus the zero point for every
/// channel: no left shift, a non-negative multiplier, and no doubling high product of an
/// accumulator (at most `accumulatorBound` in magnitude) plus 2^(shift-1) + zero point * 2^shift
/// can leave int32 (the doubling high multiply never grows a magnitude by more than 1).
func foldedRoundingAVX2(_ r: Requantization, channels: Int, accumulatorBound: (Int) -> Int64) -> Bool {
    (0..<channels).allSatisfy { c in
        let q = r.multipliers.count > 1 ? c : 0
        let right = -r.shifts[q]
        guard right >= 0 && right <= 30 && r.multipliers[q] >= 0 else { return false }
        return accumulatorBound(c) + 2 + abs(foldedRoundingOffset(right: right, zeroPoint: r.outputZeroPoint)) < Int64(1) << 31
    }
}

/// 2^(right-1) + zero point * 2^right (no 2^(right-1) without a right shift): what
/// `requantizeFoldedAVX2` adds to the doubling high product before its shift. (Wrapping, for the
/// table's lanes that never use it; exact for right <= 32.)
func foldedRoundingOffset(right: Int, zeroPoint: Int32) -> Int64 {
    (right > 0 ? Int64(1) << (right - 1) : 0) &+ Int64(zeroPoint) &* (Int64(1) << min(right, 32))
}

/// TFLite's requantization plus the output zero point on 8 int32 lanes (`t`: the table at the
/// lanes' first entry) where `foldedRoundingAVX2` holds: the rounding half away from zero of
/// h / 2^shift (h the doubling high product) is floor((h + 2^(shift-1) - [h < 0]) / 2^shift),
/// and adding zero point * 2^shift inside the floor adds the zero point; the constant part rides
/// on the 64-bit products (floor((y + k * 2^31) / 2^31) = floor(y / 2^31) + k for integer k), and
/// [h < 0] is [a < 0] (m >= 0; where they differ h is 0 and the shift drops the 1). Eleven
/// instructions instead of fifteen plus the zero point's add.
@inline(__always)
func requantizeFoldedAVX2(_ a: __m256i, _ t: UnsafePointer<Int32>) -> __m256i {
    @inline(__always) func part(_ i: Int) -> __m256i { loadM256(UnsafeRawPointer(t + i)) }
    let even = _mm256_add_epi64(_mm256_mul_epi32(a, part(AVX2Table.multiplier)), part(AVX2Table.roundEven))
    let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), part(AVX2Table.multiplierOdd)), part(AVX2Table.roundOdd))
    let oddMask = _mm256_set1_epi64x(Int64(bitPattern: 0xFFFF_FFFF_0000_0000))
    let h = _mm256_blendv_epi8(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), oddMask)
    let negative = _mm256_cmpgt_epi32(part(AVX2Table.negativeBelow), a)  // -1 where a < 0 (and a right shift)
    return _mm256_srav_epi32(_mm256_add_epi32(h, negative), part(AVX2Table.rightShift))
}

/// The dword order that puts the bytes of `requantize16AVX2` back in channel order: for
/// accumulators holding channels 0-7 and 8-15 (`channelOrder`), or channels 0-3, 8-11 and 4-7,
/// 12-15 as the depthwise kernel's interleaved multiply-adds leave them (`interleavedOrder`).
var channelOrder: __m256i { _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0) }
var interleavedOrder: __m256i { _mm256_setr_epi32(0, 1, 4, 5, 0, 0, 0, 0) }

/// The output side of a requantization: zero point (int16 lanes), clamp bounds (int8 lanes), and
/// whether any channel shifts left.
struct AVX2Output {
    let zeroPoint: __m256i, lo: __m256i, hi: __m256i
    let leftShift: Bool
    /// Whether the table's channels take `requantizeFoldedAVX2` (`foldedRoundingAVX2`).
    let folded: Bool
    init(_ r: Requantization, folded: Bool = false) {
        self.init(zeroPoint: r.outputZeroPoint, min: r.min, max: r.max, leftShift: r.shifts.contains { $0 > 0 }, folded: folded)
    }
    init(zeroPoint: Int32, min: Int32, max: Int32, leftShift: Bool, folded: Bool = false) {
        self.zeroPoint = _mm256_set1_epi16(Int16(truncatingIfNeeded: zeroPoint))
        lo = _mm256_set1_epi8(Int8(truncatingIfNeeded: min))
        hi = _mm256_set1_epi8(Int8(truncatingIfNeeded: max))
        self.leftShift = leftShift
        self.folded = folded
    }
}

/// 16 accumulators (two vectors of 8, lanes as in the block's table `t`) requantized with the
/// zero point, saturated to int16 lanes [a0 0-3, a1 0-3 | a0 4-7, a1 4-7]: folded or general
/// rounding as `o` says.
@inline(__always)
func requantizedWordsAVX2(_ a0: __m256i, _ a1: __m256i, _ t: UnsafePointer<Int32>, _ o: AVX2Output) -> __m256i {
    if o.folded { return _mm256_packs_epi32(requantizeFoldedAVX2(a0, t), requantizeFoldedAVX2(a1, t + 8)) }
    return _mm256_adds_epi16(_mm256_packs_epi32(multiplyByQuantizedMultiplierAVX2(a0, t, leftShift: o.leftShift),
                                                multiplyByQuantizedMultiplierAVX2(a1, t + 8, leftShift: o.leftShift)), o.zeroPoint)
}

/// Requantizes 16 accumulators that already hold the bias (two vectors of 8, lanes as in the
/// block's table `t`), adds the zero point, clamps, and returns the 16 bytes in channel order.
/// The saturating packs give the int32 clamp's result: a value past int16 saturates at +-32767,
/// which the zero point (within int8) cannot bring back into int8.
@inline(__always)
func requantize16AVX2(_ a0: __m256i, _ a1: __m256i, table t: UnsafePointer<Int32>, _ o: AVX2Output,
                      order: __m256i = channelOrder) -> __m128i {
    // Bytes [words' low 8, 8 zeros | words' high 8, 8 zeros].
    let bytes = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(requantizedWordsAVX2(a0, a1, t, o), _mm256_setzero_si256()), o.lo), o.hi)
    return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, order))
}

/// `requantize16AVX2` for two pixels at once (`a0`, `a1` the first one's accumulators, `b0`, `b1`
/// the second's), sharing the narrowing steps, and stores their first `valid` bytes at `out` and
/// `out + next`. `order`: the dword order of `pairChannelOrder` or `pairInterleavedOrder`.
@inline(__always)
func requantizePairAVX2(_ a0: __m256i, _ a1: __m256i, _ b0: __m256i, _ b1: __m256i, table t: UnsafePointer<Int32>, _ o: AVX2Output,
                        order: __m256i, _ out: UnsafeMutablePointer<Int8>, next: Int, valid: Int) {
    // dwords [a0 0-3, a1 0-3, b0 0-3, b1 0-3 | a0 4-7, a1 4-7, b0 4-7, b1 4-7]
    let bytes = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(requantizedWordsAVX2(a0, a1, t, o), requantizedWordsAVX2(b0, b1, t, o)), o.lo), o.hi)
    let halves = unsafeBitCast(_mm256_permutevar8x32_epi32(bytes, order), to: (__m128i, __m128i).self)
    store16(halves.0, out, valid: valid)
    store16(halves.1, out + next, valid: valid)
}

/// The dword orders of `requantizePairAVX2` for accumulators in channel order (`channelOrder`)
/// and in the depthwise kernel's interleaved order (`interleavedOrder`).
var pairChannelOrder: __m256i { _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7) }
var pairInterleavedOrder: __m256i { _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7) }

/// The three requantizations of an int8 add or subtract (TFLite's: each input scaled to a
/// common 2^-20 fixed point, then the sum to the output), as one-block tables.
func binaryTablesAVX2(m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32, sOut: Int) -> [Int32] {
    [(m1, s1), (m2, s2), (mOut, sOut)].flatMap { m, s in
        AVX2Table.make(blocks: 1, channelOfLane: { _ in 0 }, bias: [0],
                       Requantization(multipliers: [m], shifts: [s], outputZeroPoint: 0, min: -128, max: 127))
    }
}

/// `QuantizedBinaryKernel.apply` (add or subtract, no left shifts beyond the common 2^20) on
/// `count` elements of two same-shape tensors, 16 at a time; the rest is left to the caller.
/// Returns how many elements it wrote.
func binaryAddAVX2(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
                   offset1: Int32, offset2: Int32, leftShift: Int32, tables: UnsafePointer<Int32>, _ o: AVX2Output) -> Int {
    let off1 = _mm256_set1_epi32(offset1), off2 = _mm256_set1_epi32(offset2)
    let t1 = tables, t2 = tables + AVX2Table.stride, tOut = tables + 2 * AVX2Table.stride
    @inline(__always) func half(_ x: __m128i, _ z: __m128i) -> __m256i {
        let sx = multiplyByQuantizedMultiplierAVX2(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtepi8_epi32(x), off1), leftShift), t1, leftShift: false)
        let sz = multiplyByQuantizedMultiplierAVX2(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtepi8_epi32(z), off2), leftShift), t2, leftShift: false)
        return _mm256_add_epi32(sx, sz)
    }
    var i = 0
    while i + 16 <= count {
        let x = UnsafeRawPointer(a + i).loadUnaligned(as: __m128i.self), z = UnsafeRawPointer(b + i).loadUnaligned(as: __m128i.self)
        let s0 = half(x, z), s1 = half(_mm_unpackhi_epi64(x, x), _mm_unpackhi_epi64(z, z))
        store16(requantize16AVX2(s0, s1, table: tOut, o), y + i, valid: 16)
        i += 16
    }
    return i
}

/// clamp(round(c) + zero point, lo, hi) for floats with |c| <= 1000, rounding half away from
/// zero or half to even: the fraction left by truncation is exact, and for such fractions the
/// float order is the signed order of the bits (negative ones are below 0.5's).
@inline(__always)
func roundedAVX2(_ c: __m256, halfToEven: Bool, zeroPoint zp: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    let one = _mm256_set1_epi32(1), halfBits = _mm256_set1_epi32(Int32(bitPattern: Float(0.5).bitPattern))
    let t = _mm256_cvttps_epi32(c)
    let f = _mm256_sub_ps(c, _mm256_cvtepi32_ps(t))  // exact, in (-1, 1)
    let fBits = _mm256_castps_si256(f), gBits = _mm256_castps_si256(_mm256_sub_ps(_mm256_setzero_ps(), f))
    var up: __m256i, down: __m256i
    if halfToEven {
        let odd = _mm256_cmpeq_epi32(_mm256_and_si256(t, one), one)
        up = _mm256_or_si256(_mm256_cmpgt_epi32(fBits, halfBits), _mm256_and_si256(_mm256_cmpeq_epi32(fBits, halfBits), odd))
        down = _mm256_or_si256(_mm256_cmpgt_epi32(gBits, halfBits), _mm256_and_si256(_mm256_cmpeq_epi32(gBits, halfBits), odd))
    } else {
        up = _mm256_cmpgt_epi32(fBits, _mm256_sub_epi32(halfBits, one))
        down = _mm256_cmpgt_epi32(gBits, _mm256_sub_epi32(halfBits, one))
    }
    let r = _mm256_add_epi32(_mm256_sub_epi32(t, up), down)  // masks are -1 where true
    return _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi)
}

/// `rescaleInt8` 16 at a time: round(q * scale + bias) half away from zero (float multiply, then
/// add, as the scalar code), plus the output zero point, clamped. Returns how many it wrote.
func rescaleAVX2(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, bias: Float, outputZeroPoint: Int32) -> Int {
    let s = _mm256_set1_ps(scale), b = _mm256_set1_ps(bias)
    let limit = _mm256_set1_ps(1000), negLimit = _mm256_set1_ps(-1000)
    let zp = _mm256_set1_epi32(outputZeroPoint), lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127)
    @inline(__always) func eight(_ q: __m128i) -> __m256i {
        let v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), s), b)
        return roundedAVX2(_mm256_min_ps(_mm256_max_ps(v, negLimit), limit), halfToEven: false, zeroPoint: zp, lo: lo, hi: hi)
    }
    var i = 0
    while i + 16 <= count {
        let q = UnsafeRawPointer(x + i).loadUnaligned(as: __m128i.self)
        let bytes = _mm256_packs_epi16(_mm256_packs_epi32(eight(q), eight(_mm_unpackhi_epi64(q, q))), _mm256_setzero_si256())
        UnsafeMutableRawPointer(y + i).storeBytes(of: _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, channelOrder)), as: __m128i.self)
        i += 16
    }
    return i
}

/// Floats to int8 as `quantizeInt8`, 16 at a time: the same float division, NaN to 0, then the
/// rounding rule on the exact fraction left by truncation (magnitudes clamped to 1000 first,
/// which changes no result once clamped to int8). Returns how many elements it wrote.
func quantizeAVX2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32, halfToEven: Bool) -> Int {
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
        UnsafeMutableRawPointer(y + i).storeBytes(of: _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, channelOrder)), as: __m128i.self)
        i += 16
    }
    return i
}

/// int8 max pooling for layers of at least 16 channels (`quantizedPool`'s definition): per output
/// pixel and 16 channels, the maximum over the window's taps inside the input, then the clamp; a
/// partial last block is the last 16 channels, overlapping the block before.
func maxPoolAVX2(_ g: Conv2DGeometry, min: Int32, max: Int32, _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>) {
    let c = g.inC
    let lo = _mm_set1_epi8(Int8(truncatingIfNeeded: Swift.max(min, -128))), hi = _mm_set1_epi8(Int8(truncatingIfNeeded: Swift.min(max, 127)))
    let blocks = (c + 15) / 16, rowStride = g.inW * c
    for n in 0..<g.batch {
        for oh in 0..<g.outH {
            let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
            for ow in 0..<g.outW {
                let (x0, xs) = poolWindow(ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                let corner = UnsafeRawPointer(input + ((n * g.inH + y0 + ys.lowerBound) * g.inW + x0 + xs.lowerBound) * c)
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

/// A channel shuffle of two groups over NHWC on bytes (int8 tensors): each pixel's two halves of
/// `half` (at least 16) channels interleaved, y[p][2j + g] = x[p][g * half + j], 16 channels of
/// each half per step; a partial last step redoes the 16 before it (the same bytes again).
func interleaveHalvesAVX2(_ x: UnsafeRawPointer, _ y: UnsafeMutableRawPointer, pixels: Int, half h: Int) {
    for p in 0..<pixels {
        let a = x + p * 2 * h, b = a + h, out = y + p * 2 * h
        var j = 0
        while j < h {
            let at = Swift.min(j, h - 16)
            let va = a.loadUnaligned(fromByteOffset: at, as: __m128i.self), vb = b.loadUnaligned(fromByteOffset: at, as: __m128i.self)
            out.storeBytes(of: _mm_unpacklo_epi8(va, vb), toByteOffset: 2 * at, as: __m128i.self)
            out.storeBytes(of: _mm_unpackhi_epi8(va, vb), toByteOffset: 2 * at + 16, as: __m128i.self)
            j += 16
        }
    }
}

/// Stores the first `valid` (1...16) of 16 bytes: one byte-masked store in AVX-512 builds; an
/// 8-byte store and single bytes otherwise.
@inline(__always)
func store16(_ bytes: __m128i, _ out: UnsafeMutablePointer<Int8>, valid: Int) {
    if valid == 16 {
        UnsafeMutableRawPointer(out).storeBytes(of: bytes, as: __m128i.self)
    } else {
        #if FERCC_AVX512
        _mm_mask_storeu_epi8(out, UInt16(truncatingIfNeeded: (1 << valid) - 1), bytes)
        #else
        let v = unsafeBitCast(bytes, to: SIMD16<Int8>.self)
        var i = 0
        if valid >= 8 {
            UnsafeMutableRawPointer(out).storeBytes(of: unsafeBitCast(bytes, to: SIMD2<UInt64>.self)[0], as: UInt64.self)
            i = 8
        }
        while i < valid { out[i] = v[i]; i += 1 }
        #endif
    }
}

@inline(__always)
func broadcastPair(_ p: UnsafePointer<Int16>) -> __m256i {
    _mm256_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}

/// Sign-extends int8 `x` to int16 into a copy padded with the zero point `fill`, with
/// `channelStride` >= channels int16 per pixel (the extra ones hold `fill` too; their weights
/// are zero).
func widenPaddedAVX2(_ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride cs: Int, fill: Int16, _ y: UnsafeMutablePointer<Int16>) {
    let ph = g.paddedH, pw = g.paddedW, c = g.inC
    if g.hasPadding || cs != c { fillPadding(y, g, channelStride: cs, fill: fill) }
    @inline(__always) func widen(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutablePointer<Int16>, _ count: Int) {
        var i = 0
        while i + 16 <= count {
            let v = _mm256_cvtepi8_epi16(UnsafeRawPointer(src + i).loadUnaligned(as: __m128i.self))
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: __m256i.self)
            i += 16
        }
        while i < count { dst[i] = Int16(src[i]); i += 1 }
    }
    for n in 0..<g.batch {
        for h in 0..<g.inH {
            let src = x + (n * g.inH + h) * g.inW * c
            let dst = y + ((n * ph + h + g.padTop) * pw + g.padLeft) * cs
            if cs == c {
                widen(src, dst, g.inW * c)
            } else {
                for w in 0..<g.inW { widen(src + w * c, dst + w * cs, c) }
            }
        }
    }
}

/// The input offsets the regular int8 kernels walk, `channels` elements per pixel: runs of input
/// the weights take in order (with no horizontal dilation a kernel row's taps are adjacent
/// pixels, so one run per kernel row: fewer, longer loops, a 3x3 conv on 3 channels has 3 runs
/// instead of 9), and the window offset of each output pixel of a chunk of 64 (across rows and
/// images), which stays in cache while every block of weights passes over it. Calls `body` per
/// chunk with its pixel range, the run count, the runs' offsets and the pixels' offsets.
@inline(__always)
func forEachPixelChunk(_ g: Conv2DGeometry, paddedH ph: Int, paddedW pw: Int, channels cs: Int,
                       _ body: (_ start: Int, _ end: Int, _ runs: Int, _ tapOffsets: UnsafePointer<Int>, _ pixelOffsets: UnsafePointer<Int>) -> Void) {
    let rowRuns = g.dilationW == 1
    let runs = rowRuns ? g.kernelH : g.kernelH * g.kernelW
    let pixels = g.batch * g.outH * g.outW
    let chunk = 64
    withUnsafeTemporaryAllocation(of: Int.self, capacity: runs + chunk) { offsets in
        let tapOffsets = offsets.baseAddress!, pixelOffsets = offsets.baseAddress! + runs
        for kh in 0..<g.kernelH {
            if rowRuns {
                tapOffsets[kh] = kh * g.dilationH * pw * cs
            } else {
                for kw in 0..<g.kernelW { tapOffsets[kh * g.kernelW + kw] = (kh * g.dilationH * pw + kw * g.dilationW) * cs }
            }
        }
        var start = 0
        var n = 0, oh = 0, ow = 0  // of pixel `start`
        while start < pixels {
            let end = min(start + chunk, pixels)
            for i in 0..<(end - start) {
                pixelOffsets[i] = ((n * ph + oh * g.strideH) * pw + ow * g.strideW) * cs
                ow += 1
                if ow == g.outW { ow = 0; oh += 1; if oh == g.outH { oh = 0; n += 1 } }
            }
            body(start, end, runs, tapOffsets, pixelOffsets)
            start = end
        }
    }
}

/// Regular int8 convolution with AVX2 16-bit multiply-adds (vpmaddwd): the input as int16,
/// weights as [block of 16 outputs][run][pair][16][2] (`DenseRunsAVX2`), so that one
/// multiply-add takes a broadcast pair of one pixel's run against 8 output channels. Tiles of 4
/// output pixels by 16 output channels, over chunks of pixels that stay in cache while every
/// block of weights passes over them. Sums are exact in int32 (each pair adds at most 2 * 2^14)
/// as in the portable kernel, and start from the same folded bias.
func denseConvAVX2(_ x: UnsafePointer<Int16>, paddedH ph: Int, paddedW pw: Int, _ g: Conv2DGeometry,
                   weights: UnsafePointer<Int16>, blocks: Int, table: UnsafePointer<Int32>,
                   requant r: Requantization, foldedRounding: Bool, output: UnsafeMutablePointer<Int8>) {
    let o = AVX2Output(r, folded: foldedRounding)
    let layout = DenseRunsAVX2(g)
    let blockStride = layout.runs * layout.pairs * 32
    let pairs = layout.pairs
    forEachPixelChunk(g, paddedH: ph, paddedW: pw, channels: layout.stride) { start, end, runs, tapOffsets, pixelOffsets in
            for b in 0..<blocks {
                let valid = min(g.outC - b * 16, 16)
                let t = table + b * AVX2Table.stride
                let wb = weights + b * blockStride
                let bias0 = loadM256(UnsafeRawPointer(t)), bias1 = loadM256(UnsafeRawPointer(t + 8))
                var p = start
                // A block with at most 8 channels (a last partial block, or a layer of 8) needs
                // only the first vector of weights: half the multiply-adds.
                while valid <= 8 && p + 4 <= end {
                    let x0 = x + pixelOffsets[p - start], x1 = x + pixelOffsets[p - start + 1]
                    let x2 = x + pixelOffsets[p - start + 2], x3 = x + pixelOffsets[p - start + 3]
                    var a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0
                    var w = wb
                    for run in 0..<runs {
                        let off = tapOffsets[run]
                        let p0 = x0 + off, p1 = x1 + off, p2 = x2 + off, p3 = x3 + off
                        for k in 0..<pairs {
                            let w0 = loadM256(UnsafeRawPointer(w))
                            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(broadcastPair(p0 + 2 * k), w0))
                            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(broadcastPair(p1 + 2 * k), w0))
                            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(broadcastPair(p2 + 2 * k), w0))
                            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(broadcastPair(p3 + 2 * k), w0))
                            w += 32
                        }
                    }
                    let out = output + p * g.outC + b * 16
                    requantizePairAVX2(a0, bias1, a1, bias1, table: t, o, order: pairChannelOrder, out, next: g.outC, valid: valid)
                    requantizePairAVX2(a2, bias1, a3, bias1, table: t, o, order: pairChannelOrder, out + 2 * g.outC, next: g.outC, valid: valid)
                    p += 4
                }
                while p + 4 <= end {
                    let x0 = x + pixelOffsets[p - start], x1 = x + pixelOffsets[p - start + 1]
                    let x2 = x + pixelOffsets[p - start + 2], x3 = x + pixelOffsets[p - start + 3]
                    var a00 = bias0, a01 = bias1, a10 = bias0, a11 = bias1
                    var a20 = bias0, a21 = bias1, a30 = bias0, a31 = bias1
                    var w = wb
                    for run in 0..<runs {
                        let off = tapOffsets[run]
                        let p0 = x0 + off, p1 = x1 + off, p2 = x2 + off, p3 = x3 + off
                        for k in 0..<pairs {
                            let w0 = loadM256(UnsafeRawPointer(w)), w1 = loadM256(UnsafeRawPointer(w + 16))
                            let v0 = broadcastPair(p0 + 2 * k)
                            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v0, w0)); a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v0, w1))
                            let v1 = broadcastPair(p1 + 2 * k)
                            a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(v1, w0)); a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(v1, w1))
                            let v2 = broadcastPair(p2 + 2 * k)
                            a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(v2, w0)); a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(v2, w1))
                            let v3 = broadcastPair(p3 + 2 * k)
                            a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(v3, w0)); a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(v3, w1))
                            w += 32
                        }
                    }
                    let out = output + p * g.outC + b * 16
                    requantizePairAVX2(a00, a01, a10, a11, table: t, o, order: pairChannelOrder, out, next: g.outC, valid: valid)
                    requantizePairAVX2(a20, a21, a30, a31, table: t, o, order: pairChannelOrder, out + 2 * g.outC, next: g.outC, valid: valid)
                    p += 4
                }
                while p < end {
                    let x0 = x + pixelOffsets[p - start]
                    var a00 = bias0, a01 = bias1
                    var w = wb
                    for run in 0..<runs {
                        let p0 = x0 + tapOffsets[run]
                        for k in 0..<pairs {
                            let v0 = broadcastPair(p0 + 2 * k)
                            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v0, loadM256(UnsafeRawPointer(w))))
                            a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v0, loadM256(UnsafeRawPointer(w + 16))))
                            w += 32
                        }
                    }
                    store16(requantize16AVX2(a00, a01, table: t, o), output + p * g.outC + b * 16, valid: valid)
                    p += 1
                }
            }
    }
}

/// Depthwise int8 convolution with AVX2 multiply-adds over pairs of taps: 16 channels of two
/// taps, sign-extended to int16 and interleaved, against weights interleaved the same way
/// ([block][tap pair][16 lanes][2 taps]; an odd last tap pairs with zero weights). The
/// accumulators then hold channels 0-3, 8-11 and 4-7, 12-15, the order of the block's table.
/// `x` holds `channelStride` (a multiple of 16) bytes per pixel, padded with the zero point
/// (an int16 copy measured no faster: the sign extension is not the bottleneck).
/// With `rows` (batch 1 only) it computes those output rows into `output` as rows 0, 1, ...
func depthwiseConvAVX2(_ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
                       weights: UnsafePointer<Int16>, blocks: Int, table: UnsafePointer<Int32>,
                       requant r: Requantization, foldedRounding: Bool, output: UnsafeMutablePointer<Int8>, rows: Range<Int>? = nil) {
    let outRows = rows ?? 0..<g.outH, firstRow = rows?.lowerBound ?? 0
    let taps = g.kernelH * g.kernelW
    let tapPairs = (taps + 1) / 2
    let o = AVX2Output(r, folded: foldedRounding)
    withUnsafeTemporaryAllocation(of: Int.self, capacity: tapPairs * 2) { tapOffsets in
        for i in 0..<(tapPairs * 2) {
            let tap = min(i, taps - 1)  // the padding tap reads the last tap again (its weights are zero)
            tapOffsets[i] = ((tap / g.kernelW) * g.dilationH * pw + (tap % g.kernelW) * g.dilationW) * cs
        }
        // Rows outer, blocks inside: the kernel's few input rows stay in cache while every block
        // of 16 channels passes over them.
        for n in 0..<g.batch {
            for oh in outRows {
                for b in 0..<blocks {
                    let valid = min(g.outC - b * 16, 16)
                    let t = table + b * AVX2Table.stride
                    let wb = weights + b * tapPairs * 32
                    let bias0 = loadM256(UnsafeRawPointer(t)), bias1 = loadM256(UnsafeRawPointer(t + 8))
                    let row = x + (n * ph + oh * g.strideH) * pw * cs + b * 16
                    let outRow = output + (n * g.outH + oh - firstRow) * g.outW * g.outC + b * 16
                    /// Tap pair j of the pixel at `px` (16 channels of two taps, interleaved) into
                    /// its accumulators, against the pair's weights `w0`, `w1`.
                    @inline(__always) func addTapPair(_ px: UnsafePointer<Int8>, _ j: Int, _ w0: __m256i, _ w1: __m256i,
                                                      _ lo: inout __m256i, _ hi: inout __m256i) {
                        let xa = _mm256_cvtepi8_epi16(UnsafeRawPointer(px + tapOffsets[2 * j]).loadUnaligned(as: __m128i.self))
                        let xb = _mm256_cvtepi8_epi16(UnsafeRawPointer(px + tapOffsets[2 * j + 1]).loadUnaligned(as: __m128i.self))
                        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), w0))
                        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), w1))
                    }
                    // Two output pixels per step: the weights loaded once, the narrowing shared.
                    let pixelStep = g.strideW * cs
                    var ow = 0
                    while ow + 2 <= g.outW {
                        let px = row + ow * pixelStep
                        var accLo = bias0, accHi = bias1, bccLo = bias0, bccHi = bias1
                        for j in 0..<tapPairs {
                            let w = UnsafeRawPointer(wb + j * 32)
                            let w0 = loadM256(w), w1 = loadM256(w + 32)
                            addTapPair(px, j, w0, w1, &accLo, &accHi)
                            addTapPair(px + pixelStep, j, w0, w1, &bccLo, &bccHi)
                        }
                        requantizePairAVX2(accLo, accHi, bccLo, bccHi, table: t, o, order: pairInterleavedOrder,
                                           outRow + ow * g.outC, next: g.outC, valid: valid)
                        ow += 2
                    }
                    if ow < g.outW {
                        let px = row + ow * pixelStep
                        var accLo = bias0, accHi = bias1
                        for j in 0..<tapPairs {
                            let w = UnsafeRawPointer(wb + j * 32)
                            addTapPair(px, j, loadM256(w), loadM256(w + 32), &accLo, &accHi)
                        }
                        store16(requantize16AVX2(accLo, accHi, table: t, o, order: interleavedOrder), outRow + ow * g.outC, valid: valid)
                    }
                }
            }
        }
    }
}
#else
/// Whether this build of the kernels runs the AVX2 int8 paths.
public let quantizedKernelsUseAVX2 = false
#endif
