// AVX-512 VNNI path of the regular int8 convolutions (vpdpbusd: 16 int32 lanes, each adding
// four unsigned-by-signed byte products), through the compiler's own clang intrinsics module.
// Compiled only where the build enables it: the package defines FERCC_AVX512 when it builds for
// a host with AVX-512 F/BW/VL and VNNI, and generated code gets the condition resolved for its
// --target (an AVX-512 build also has FERCC_AVX2: depthwise layers and the requantization stay
// on the AVX2 paths). Same bits as the portable and AVX2 kernels; tests compare them.
//
// vpdpbusd multiplies unsigned bytes by signed ones, so the input is shifted into unsigned
// range (x + 128, a flip of the sign bit) and 128 * sum(weights) comes off the folded bias:
// sum((x + 128) * w) - 128 * sum(w) = sum(x * w), exactly, in int32.
#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

/// Whether this build of the kernels runs the AVX-512 VNNI int8 path.
public let quantizedKernelsUseVNNI = true

@inline(__always)
func loadM512(_ p: UnsafeRawPointer) -> __m512i { p.loadUnaligned(as: __m512i.self) }

/// The output side of a requantization on 16 int32 lanes: zero point and clamp bounds.
struct AVX512Output {
    let zeroPoint: __m512i, lo: __m512i, hi: __m512i
    /// The same in 16-bit lanes (zero point) and bytes (bounds), for `narrowPairsAVX512`.
    let zeroPoint16: __m512i, lo8: __m512i, hi8: __m512i
    /// Whether the bounds are narrower than int8's (the saturating packs clamp to int8 already).
    let clamps: Bool
    let leftShift: Bool
    /// See `QuantizedConv2DKernel.simpleRounding`.
    let simpleRounding: Bool
    init(_ r: Requantization, simpleRounding: Bool) {
        self.init(zeroPoint: r.outputZeroPoint, min: r.min, max: r.max, leftShift: r.shifts.contains { $0 > 0 }, simpleRounding: simpleRounding)
    }
    init(zeroPoint: Int32, min: Int32, max: Int32, leftShift: Bool, simpleRounding: Bool) {
        self.simpleRounding = simpleRounding
        self.leftShift = leftShift
        self.zeroPoint = _mm512_set1_epi32(zeroPoint)
        lo = _mm512_set1_epi32(min)
        hi = _mm512_set1_epi32(max)
        zeroPoint16 = _mm512_set1_epi16(Int16(truncatingIfNeeded: zeroPoint))
        lo8 = _mm512_set1_epi8(Int8(truncatingIfNeeded: min))
        hi8 = _mm512_set1_epi8(Int8(truncatingIfNeeded: max))
        clamps = min > -128 || max < 127
    }

    /// `multiplyByQuantizedMultiplierAVX512` with this requantization's shifts and rounding.
    @inline(__always)
    func multiply(_ x: __m512i, table t: UnsafePointer<Int32>) -> __m512i {
        multiplyByQuantizedMultiplierAVX512(x, table: t, leftShift: leftShift, simpleRounding: simpleRounding)
    }
}

/// A vector of dword indices (the rest zero).
func dwordsAVX512(_ v: [Int32]) -> __m512i {
    (v + [Int32](repeating: 0, count: 16 - v.count)).withUnsafeBytes { loadM512($0.baseAddress!) }
}

/// Four vectors of requantized int32 lanes (before the zero point) as bytes: packed with
/// saturation to 16 bits (`v0` with `v1`, `v2` with `v3`), the zero point added with saturation,
/// packed to bytes, clamped; 128-bit lane i then holds lane i's four dwords of v0, v1, v2, v3 in
/// turn, for the caller to put in order. The result is the int32 clamp's: a value past int16
/// saturates at +-32767, which the zero point (within int8) cannot bring back into int8.
@inline(__always)
func packBytesAVX512(_ v0: __m512i, _ v1: __m512i, _ v2: __m512i, _ v3: __m512i, _ o: AVX512Output) -> __m512i {
    let w01 = _mm512_adds_epi16(_mm512_packs_epi32(v0, v1), o.zeroPoint16)
    let w23 = _mm512_adds_epi16(_mm512_packs_epi32(v2, v3), o.zeroPoint16)
    let b = _mm512_packs_epi16(w01, w23)
    return o.clamps ? _mm512_min_epi8(_mm512_max_epi8(b, o.lo8), o.hi8) : b
}

/// Two pixels' 32 requantized channels each (`p0`, `p1` the first pixel's two vectors, `q0`,
/// `q1` the second's) as bytes (`packBytesAVX512`), put in order by `orderP` / `orderQ` (dword
/// indices): the first pixel's 32 bytes and the second's, each in the low half.
@inline(__always)
func narrowPairsAVX512(_ p0: __m512i, _ p1: __m512i, _ q0: __m512i, _ q1: __m512i, _ o: AVX512Output,
                       orderP: __m512i, orderQ: __m512i) -> (__m256i, __m256i) {
    let b = packBytesAVX512(p0, p1, q0, q1, o)
    return (_mm512_castsi512_si256(_mm512_permutexvar_epi32(orderP, b)), _mm512_castsi512_si256(_mm512_permutexvar_epi32(orderQ, b)))
}

/// Stores the first `valid` (1...32) bytes of each of two pixels' 32, at `out` and `out + next`.
@inline(__always)
func storePairAVX512(_ bp: __m256i, _ bq: __m256i, _ out: UnsafeMutablePointer<Int8>, next: Int, valid: Int) {
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
/// lanes wide). `simpleRounding`: see `QuantizedConv2DKernel.simpleRounding`.
@inline(__always)
func multiplyByQuantizedMultiplierAVX512(_ x: __m512i, table t: UnsafePointer<Int32>, leftShift: Bool, simpleRounding: Bool) -> __m512i {
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
        return _mm512_srav_epi32(_mm512_add_epi32(_mm512_add_epi32(h, part(AVX2Table.half)), _mm512_srai_epi32(h, 31)),
                                 part(AVX2Table.rightShift))
    }
    let remainder = _mm512_and_si512(h, part(AVX2Table.mask))
    let threshold = _mm512_sub_epi32(part(AVX2Table.threshold), _mm512_srai_epi32(h, 31))  // + 1 when h < 0
    return _mm512_sub_epi32(_mm512_srav_epi32(h, part(AVX2Table.rightShift)),
                            _mm512_srai_epi32(_mm512_sub_epi32(threshold, remainder), 31))
}

/// `multiplyByQuantizedMultiplierAVX512`, then the zero point and the clamp in int32 as the
/// portable kernel, and the 16 bytes (vpmovdb truncates what the clamp left in int8 range).
@inline(__always)
func requantize16AVX512(_ x: __m512i, table t: UnsafePointer<Int32>, _ o: AVX512Output) -> __m128i {
    let v = o.multiply(x, table: t)
    let z = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, o.zeroPoint), o.lo), o.hi)
    return _mm512_cvtepi32_epi8(z)
}

/// `binaryAddAVX2` on 16 lanes per step: each input to the common fixed point, their sum to the
/// output, all three TFLite's requantization on 512-bit lanes (the general rounding: the input
/// with the larger scale always has multiplier 2^30 and shift 0). Returns how many elements it
/// wrote.
func binaryAddAVX512(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
                     offset1: Int32, offset2: Int32, leftShift: Int32, tables: UnsafePointer<Int32>,
                     zeroPoint: Int32, min: Int32, max: Int32) -> Int {
    let off1 = _mm512_set1_epi32(offset1), off2 = _mm512_set1_epi32(offset2)
    let o = AVX512Output(zeroPoint: zeroPoint, min: min, max: max, leftShift: false, simpleRounding: false)
    let t1 = tables, t2 = tables + AVX2Table.stride, tOut = tables + 2 * AVX2Table.stride
    @inline(__always) func scaled(_ x: UnsafePointer<Int8>, _ offset: __m512i, _ t: UnsafePointer<Int32>) -> __m512i {
        let v = _mm512_cvtepi8_epi32(UnsafeRawPointer(x).loadUnaligned(as: __m128i.self))
        return o.multiply(_mm512_slli_epi32(_mm512_add_epi32(v, offset), UInt32(leftShift)), table: t)
    }
    var i = 0
    while i + 16 <= count {
        let sum = _mm512_add_epi32(scaled(a + i, off1, t1), scaled(b + i, off2, t2))
        UnsafeMutableRawPointer(y + i).storeBytes(of: requantize16AVX512(sum, table: tOut, o), as: __m128i.self)
        i += 16
    }
    return i
}

/// Four bytes of one pixel (four input channels) in every lane.
@inline(__always)
func broadcastQuad(_ p: UnsafePointer<UInt8>) -> __m512i {
    _mm512_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}

/// Copies int8 `x` with its sign bit flipped (x + 128 as unsigned) into a buffer padded with
/// `fill` (the input zero point, flipped), `channelStride` >= channels bytes per pixel (the
/// extra ones hold `fill` too; their weights are zero).
func flipPaddedVNNI(_ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride cs: Int, fill: UInt8, _ y: UnsafeMutablePointer<UInt8>) {
    let ph = g.paddedH, pw = g.paddedW, c = g.inC
    if g.hasPadding || cs != c { y.initialize(repeating: fill, count: g.batch * ph * pw * cs) }
    let sign = _mm512_set1_epi8(-128)
    @inline(__always) func flip(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutablePointer<UInt8>, _ count: Int) {
        var i = 0
        while i + 64 <= count {
            let v = _mm512_xor_si512(loadM512(UnsafeRawPointer(src + i)), sign)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: __m512i.self)
            i += 64
        }
        while i < count { dst[i] = UInt8(bitPattern: src[i]) ^ 0x80; i += 1 }
    }
    for n in 0..<g.batch {
        for h in 0..<g.inH {
            let src = x + (n * g.inH + h) * g.inW * c
            let dst = y + ((n * ph + h + g.padTop) * pw + g.padLeft) * cs
            if cs == c {
                flip(src, dst, g.inW * c)
            } else if cs == 4 {
                // 1-3 channels (RGB and gray stems): four bytes per pixel at once while they lie
                // inside the row; the bytes past the pixel's channels meet zero weights.
                var w = 0
                while w * c + 4 <= g.inW * c {
                    let v = UnsafeRawPointer(src + w * c).loadUnaligned(as: UInt32.self) ^ 0x8080_8080
                    UnsafeMutableRawPointer(dst + w * 4).storeBytes(of: v, as: UInt32.self)
                    w += 1
                }
                while w < g.inW { flip(src + w * c, dst + w * 4, c); w += 1 }
            } else {
                for w in 0..<g.inW { flip(src + w * c, dst + w * cs, c) }
            }
        }
    }
}

/// Weights for `denseConvVNNI`: [block of 16 outputs][tap][channel quad][16 outputs][4 channels],
/// zero past the last channel or output; `channels4` is the input channels rounded up to 4.
func packDenseVNNI(_ g: Conv2DGeometry, _ weights: [Int8]) -> [Int8] {
    let taps = g.kernelH * g.kernelW
    let blocks = (g.outC + 15) / 16
    let quads = (g.inC + 3) / 4
    var packed = [Int8](repeating: 0, count: blocks * taps * quads * 64)
    for oc in 0..<g.outC {
        for t in 0..<taps {
            for ci in 0..<g.inC {
                packed[(((oc / 16) * taps + t) * quads + ci / 4) * 64 + (oc % 16) * 4 + ci % 4] = weights[(oc * taps + t) * g.inC + ci]
            }
        }
    }
    return packed
}

/// Regular int8 convolution with vpdpbusd over the flipped, padded input `x` (`channels4` bytes
/// per pixel): a broadcast quad of one pixel's channels against 16 output channels' four weights
/// each. Tiles of 6 output pixels by 32 output channels (two blocks; 8 x 16 for a last single
/// block), over chunks of pixels that stay in cache while every block of weights
/// passes over them; accumulators start from the table's bias (folded, less the offset's sum).
func denseConvVNNI(_ x: UnsafePointer<UInt8>, paddedH ph: Int, paddedW pw: Int, channels4 c4: Int, _ g: Conv2DGeometry,
                   weights: UnsafePointer<Int8>, blocks: Int, table: UnsafePointer<Int32>,
                   requant r: Requantization, simpleRounding: Bool, output: UnsafeMutablePointer<Int8>) {
    let taps = g.kernelH * g.kernelW
    let o = AVX512Output(r, simpleRounding: simpleRounding)
    let blockStride = taps * c4 * 16
    // With no horizontal dilation a kernel row's taps are adjacent pixels: one run per kernel row.
    let quads = (g.dilationW == 1 ? g.kernelW * c4 : c4) / 4
    @inline(__always) func finish(_ acc: __m512i, _ t: UnsafePointer<Int32>, _ out: UnsafeMutablePointer<Int8>, _ valid: Int) {
        store16(requantize16AVX512(acc, table: t, o), out, valid: valid)
    }
    @inline(__always) func mbqm(_ x: __m512i, _ t: UnsafePointer<Int32>) -> __m512i { o.multiply(x, table: t) }
    // `narrowPairsAVX512` leaves, in each 128-bit lane i, dwords: the first pixel's channels
    // 4i..4i+3 of each block, then the second pixel's.
    let orderP = dwordsAVX512([0, 4, 8, 12, 1, 5, 9, 13]), orderQ = dwordsAVX512([2, 6, 10, 14, 3, 7, 11, 15])
    // Four pixels of one block: after the packs, lane i holds channels 4i..4i+3 of each pixel
    // in turn; `quadOrder` puts each pixel's 16 bytes together, stored with a byte mask each
    // (one 64-byte store when the pixels are adjacent and whole). Layers of at least 16
    // channels only: pixel k's store starts at out + k * (outC - 16), never before `out`.
    let quadOrder = dwordsAVX512([0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15])
    @inline(__always) func quad(_ v0: __m512i, _ v1: __m512i, _ v2: __m512i, _ v3: __m512i, _ out: UnsafeMutablePointer<Int8>, _ valid: Int) {
        let b = _mm512_permutexvar_epi32(quadOrder, packBytesAVX512(v0, v1, v2, v3, o))
        if g.outC == 16 {
            UnsafeMutableRawPointer(out).storeBytes(of: b, as: __m512i.self)
        } else {
            let m = UInt64((1 << valid) - 1)
            for k in 0..<4 { _mm512_mask_storeu_epi8(out + k * g.outC - 16 * k, m << (16 * k), b) }
        }
    }
    forEachPixelChunk(g, paddedH: ph, paddedW: pw, channels: c4) { start, end, runs, tapOffsets, pixelOffsets in
            var b0 = 0
            while b0 < blocks {
                // Two blocks (32 channels) per tile when both exist: 6 pixels x 2 accumulators,
                // each broadcast quad feeding two vpdpbusd.
                var first = start
                var bEnd = b0 + 1
                if b0 + 1 < blocks {
                    bEnd = b0 + 2
                    let tA = table + b0 * AVX2Table.stride, tB = tA + AVX2Table.stride
                    let wA = weights + b0 * blockStride, wB = wA + blockStride
                    let biasA = loadM512(UnsafeRawPointer(tA)), biasB = loadM512(UnsafeRawPointer(tB))
                    let validB = min(g.outC - (b0 + 1) * 16, 16)
                    var p = start
                    while p + 6 <= end {
                        let q = pixelOffsets + (p - start)
                        let x0 = x + q[0], x1 = x + q[1], x2 = x + q[2], x3 = x + q[3], x4 = x + q[4], x5 = x + q[5]
                        var a0 = biasA, a1 = biasA, a2 = biasA, a3 = biasA, a4 = biasA, a5 = biasA
                        var c0 = biasB, c1 = biasB, c2 = biasB, c3 = biasB, c4 = biasB, c5 = biasB
                        var w = wA, u = wB
                        for run in 0..<runs {
                            let off = tapOffsets[run]
                            let p0 = x0 + off, p1 = x1 + off, p2 = x2 + off, p3 = x3 + off, p4 = x4 + off, p5 = x5 + off
                            for k in 0..<quads {
                                let wv = loadM512(UnsafeRawPointer(w)), uv = loadM512(UnsafeRawPointer(u))
                                let v0 = broadcastQuad(p0 + 4 * k); a0 = _mm512_dpbusd_epi32(a0, v0, wv); c0 = _mm512_dpbusd_epi32(c0, v0, uv)
                                let v1 = broadcastQuad(p1 + 4 * k); a1 = _mm512_dpbusd_epi32(a1, v1, wv); c1 = _mm512_dpbusd_epi32(c1, v1, uv)
                                let v2 = broadcastQuad(p2 + 4 * k); a2 = _mm512_dpbusd_epi32(a2, v2, wv); c2 = _mm512_dpbusd_epi32(c2, v2, uv)
                                let v3 = broadcastQuad(p3 + 4 * k); a3 = _mm512_dpbusd_epi32(a3, v3, wv); c3 = _mm512_dpbusd_epi32(c3, v3, uv)
                                let v4 = broadcastQuad(p4 + 4 * k); a4 = _mm512_dpbusd_epi32(a4, v4, wv); c4 = _mm512_dpbusd_epi32(c4, v4, uv)
                                let v5 = broadcastQuad(p5 + 4 * k); a5 = _mm512_dpbusd_epi32(a5, v5, wv); c5 = _mm512_dpbusd_epi32(c5, v5, uv)
                                w += 64; u += 64
                            }
                        }
                        let out = output + p * g.outC + b0 * 16
                        // Two pixels of 32 channels per narrowing (a byte mask when the second
                        // block is partial).
                        @inline(__always) func pair(_ ap: __m512i, _ cp: __m512i, _ aq: __m512i, _ cq: __m512i, _ at: UnsafeMutablePointer<Int8>) {
                            let (bp, bq) = narrowPairsAVX512(mbqm(ap, tA), mbqm(cp, tB), mbqm(aq, tA), mbqm(cq, tB), o, orderP: orderP, orderQ: orderQ)
                            storePairAVX512(bp, bq, at, next: g.outC, valid: 16 + validB)
                        }
                        pair(a0, c0, a1, c1, out)
                        pair(a2, c2, a3, c3, out + 2 * g.outC)
                        pair(a4, c4, a5, c5, out + 4 * g.outC)
                        p += 6
                    }
                    first = p
                }
                for b in b0..<bEnd {
                let valid = min(g.outC - b * 16, 16)
                let t = table + b * AVX2Table.stride
                let wb = weights + b * blockStride
                let bias = loadM512(UnsafeRawPointer(t))
                var p = first
                while p + 8 <= end {
                    let q = pixelOffsets + (p - start)
                    let x0 = x + q[0], x1 = x + q[1], x2 = x + q[2], x3 = x + q[3]
                    let x4 = x + q[4], x5 = x + q[5], x6 = x + q[6], x7 = x + q[7]
                    var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
                    var w = wb
                    for run in 0..<runs {
                        let off = tapOffsets[run]
                        let p0 = x0 + off, p1 = x1 + off, p2 = x2 + off, p3 = x3 + off
                        let p4 = x4 + off, p5 = x5 + off, p6 = x6 + off, p7 = x7 + off
                        for k in 0..<quads {
                            let wv = loadM512(UnsafeRawPointer(w))
                            a0 = _mm512_dpbusd_epi32(a0, broadcastQuad(p0 + 4 * k), wv)
                            a1 = _mm512_dpbusd_epi32(a1, broadcastQuad(p1 + 4 * k), wv)
                            a2 = _mm512_dpbusd_epi32(a2, broadcastQuad(p2 + 4 * k), wv)
                            a3 = _mm512_dpbusd_epi32(a3, broadcastQuad(p3 + 4 * k), wv)
                            a4 = _mm512_dpbusd_epi32(a4, broadcastQuad(p4 + 4 * k), wv)
                            a5 = _mm512_dpbusd_epi32(a5, broadcastQuad(p5 + 4 * k), wv)
                            a6 = _mm512_dpbusd_epi32(a6, broadcastQuad(p6 + 4 * k), wv)
                            a7 = _mm512_dpbusd_epi32(a7, broadcastQuad(p7 + 4 * k), wv)
                            w += 64
                        }
                    }
                    let out = output + p * g.outC + b * 16
                    if g.outC >= 16 {
                        quad(mbqm(a0, t), mbqm(a1, t), mbqm(a2, t), mbqm(a3, t), out, valid)
                        quad(mbqm(a4, t), mbqm(a5, t), mbqm(a6, t), mbqm(a7, t), out + 4 * g.outC, valid)
                    } else {
                        finish(a0, t, out, valid); finish(a1, t, out + g.outC, valid)
                        finish(a2, t, out + 2 * g.outC, valid); finish(a3, t, out + 3 * g.outC, valid)
                        finish(a4, t, out + 4 * g.outC, valid); finish(a5, t, out + 5 * g.outC, valid)
                        finish(a6, t, out + 6 * g.outC, valid); finish(a7, t, out + 7 * g.outC, valid)
                    }
                    p += 8
                }
                while p < end {
                    let x0 = x + pixelOffsets[p - start]
                    var a0 = bias
                    var w = wb
                    for run in 0..<runs {
                        let p0 = x0 + tapOffsets[run]
                        for k in 0..<quads {
                            a0 = _mm512_dpbusd_epi32(a0, broadcastQuad(p0 + 4 * k), loadM512(UnsafeRawPointer(w)))
                            w += 64
                        }
                    }
                    finish(a0, t, output + p * g.outC + b * 16, valid)
                    p += 1
                }
                }
                b0 = bEnd
            }
    }
}
/// The channel (within its block of 32) that lane `i` of the AVX-512 depthwise accumulators
/// holds: lanes 0-15 are the first accumulator (channels 0-3, 8-11, 16-19, 24-27: the 16-bit
/// interleave works within 128-bit quarters), lanes 16-31 the second (4-7, 12-15, 20-23, 28-31).
func depthwiseChannelAVX512(_ i: Int) -> Int {
    let second = i / 16, l = i % 16
    return (l / 4) * 8 + second * 4 + l % 4
}

/// Whether `depthwiseConvAVX512` slides a window of columns along the row (3x3, no dilation,
/// stride 1 or 2 across the row): each column of three input pixels is loaded and interleaved
/// once instead of three times (stride 1) or 1.5 times (stride 2).
func slidesColumnsAVX512(_ g: Conv2DGeometry) -> Bool {
    g.kernelH == 3 && g.kernelW == 3 && (g.strideW == 1 || g.strideW == 2) && g.dilationH == 1 && g.dilationW == 1
}

/// Depthwise weights for `depthwiseConvAVX512`, [block of 32][tap pair][32 lanes][2 taps] (an
/// odd last tap pairs with zero weights), and the table: two 16-lane parts per block, lanes in
/// the accumulators' order. Layers that slide columns (`slidesColumnsAVX512`) have after those,
/// per block of 32 and kernel column k, four vectors of 16 lanes x 2 taps: rows 0 and 1 of
/// column k for the first accumulator's lanes, the same for the second's, then row 2 (with a
/// zero) for each.
func packDepthwiseAVX512(_ g: Conv2DGeometry, _ weights: [Int8], folded: [Int32], _ r: Requantization) -> ([Int16], [Int32]) {
    let taps = g.kernelH * g.kernelW, tapPairs = (taps + 1) / 2
    let blocks = (g.outC + 31) / 32
    let columns = slidesColumnsAVX512(g) ? blocks * 3 * 128 : 0
    var packed = [Int16](repeating: 0, count: blocks * tapPairs * 64 + columns)
    let columnBase = blocks * tapPairs * 64
    for b in 0..<blocks {
        for lane in 0..<32 {
            let c = b * 32 + depthwiseChannelAVX512(lane)
            guard c < g.outC else { continue }
            for t in 0..<taps { packed[(b * tapPairs + t / 2) * 64 + lane * 2 + t % 2] = Int16(weights[c * taps + t]) }
            if columns > 0 {
                let half = lane / 16, l = lane % 16
                for k in 0..<3 {
                    let base = columnBase + (b * 3 + k) * 128
                    packed[base + half * 32 + l * 2] = Int16(weights[c * 9 + k])
                    packed[base + half * 32 + l * 2 + 1] = Int16(weights[c * 9 + 3 + k])
                    packed[base + 64 + half * 32 + l * 2] = Int16(weights[c * 9 + 6 + k])
                }
            }
        }
    }
    let table = AVX2Table.make(blocks: blocks * 2, channelOfLane: { lane in
        let c = (lane / 32) * 32 + depthwiseChannelAVX512(lane % 32)
        return c < g.outC ? c : nil
    }, bias: folded, r)
    return (packed, table)
}

/// Depthwise int8 convolution with 512-bit 16-bit multiply-adds over pairs of taps: 32 channels
/// of two taps, sign-extended and interleaved, against weights interleaved the same way, into two
/// accumulators of 16 channels. `x` holds `channelStride` (a multiple of 32) bytes per pixel,
/// padded with the zero point. With `rows` (batch 1 only) it computes those output rows into
/// `output` as rows 0, 1, ...
func depthwiseConvAVX512(_ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
                         weights: UnsafePointer<Int16>, table: UnsafePointer<Int32>,
                         requant r: Requantization, simpleRounding: Bool, output: UnsafeMutablePointer<Int8>, rows: Range<Int>? = nil) {
    let outRows = rows ?? 0..<g.outH, firstRow = rows?.lowerBound ?? 0
    let taps = g.kernelH * g.kernelW
    let tapPairs = (taps + 1) / 2
    let blocks = (g.outC + 31) / 32
    let o = AVX512Output(r, simpleRounding: simpleRounding)
    if slidesColumnsAVX512(g) {
        depthwiseColumnsAVX512(x, paddedH: ph, paddedW: pw, channelStride: cs, g, weights: weights, table: table, o,
                               output: output, rows: outRows, firstRow: firstRow)
        return
    }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: tapPairs * 2) { tapOffsets in
        for i in 0..<(tapPairs * 2) {
            let tap = min(i, taps - 1)  // the padding tap reads the last tap again (its weights are zero)
            tapOffsets[i] = ((tap / g.kernelW) * g.dilationH * pw + (tap % g.kernelW) * g.dilationW) * cs
        }
        for n in 0..<g.batch {
            for oh in outRows {
                for b in 0..<blocks {
                    let valid = min(g.outC - b * 32, 32)
                    let t0 = table + 2 * b * AVX2Table.stride, t1 = t0 + AVX2Table.stride
                    let wb = weights + b * tapPairs * 64
                    let bias0 = loadM512(UnsafeRawPointer(t0)), bias1 = loadM512(UnsafeRawPointer(t1))
                    let row = x + (n * ph + oh * g.strideH) * pw * cs + b * 32
                    let outRow = output + (n * g.outH + oh - firstRow) * g.outW * g.outC + b * 32
                    for ow in 0..<g.outW {
                        let px = row + ow * g.strideW * cs
                        var acc0 = bias0, acc1 = bias1
                        for j in 0..<tapPairs {
                            let xa = _mm512_cvtepi8_epi16(UnsafeRawPointer(px + tapOffsets[2 * j]).loadUnaligned(as: __m256i.self))
                            let xb = _mm512_cvtepi8_epi16(UnsafeRawPointer(px + tapOffsets[2 * j + 1]).loadUnaligned(as: __m256i.self))
                            let w = UnsafeRawPointer(wb + j * 64)
                            acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(_mm512_unpacklo_epi16(xa, xb), loadM512(w)))
                            acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(_mm512_unpackhi_epi16(xa, xb), loadM512(w + 64)))
                        }
                        let q0 = requantize16AVX512(acc0, table: t0, o), q1 = requantize16AVX512(acc1, table: t1, o)
                        // Dwords of q0 hold channels 0-3, 8-11, ..., of q1 4-7, 12-15, ...: interleaved back.
                        let out = outRow + ow * g.outC
                        store16(_mm_unpacklo_epi32(q0, q1), out, valid: min(valid, 16))
                        if valid > 16 { store16(_mm_unpackhi_epi32(q0, q1), out + 16, valid: valid - 16) }
                    }
                }
            }
        }
    }
}

/// `depthwiseConvAVX512` for layers that slide columns (`slidesColumnsAVX512`): along an output
/// row, each column of three input pixels is sign-extended and interleaved once (rows 0 and 1
/// together, row 2 with zeros) and serves every output pixel whose window holds it (three at
/// stride 1); the same sums, so the same bytes.
@inline(never)
func depthwiseColumnsAVX512(_ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
                            weights: UnsafePointer<Int16>, table: UnsafePointer<Int32>, _ o: AVX512Output,
                            output: UnsafeMutablePointer<Int8>, rows outRows: Range<Int>, firstRow: Int) {
    let blocks = (g.outC + 31) / 32
    let columnWeights = weights + blocks * 5 * 64
    let zero = _mm512_setzero_si512()
    // After `narrowPairsAVX512`, 128-bit lane i holds channels 8i..8i+7 of the first pixel (the
    // packs undo the accumulators' interleave), then of the second.
    let orderP = dwordsAVX512([0, 1, 4, 5, 8, 9, 12, 13]), orderQ = dwordsAVX512([2, 3, 6, 7, 10, 11, 14, 15])
    for n in 0..<g.batch {
        for oh in outRows {
            for b in 0..<blocks {
                let valid = min(g.outC - b * 32, 32)
                let t0 = table + 2 * b * AVX2Table.stride, t1 = t0 + AVX2Table.stride
                let bias0 = loadM512(UnsafeRawPointer(t0)), bias1 = loadM512(UnsafeRawPointer(t1))
                let r0 = x + (n * ph + oh * g.strideH) * pw * cs + b * 32, r1 = r0 + pw * cs, r2 = r1 + pw * cs
                let wc = UnsafeRawPointer(columnWeights + b * 3 * 128)
                @inline(__always) func w(_ k: Int, _ i: Int) -> __m512i { loadM512(wc + (k * 4 + i) * 64) }
                // Rows 0 and 1 of a column interleaved (two vectors, the accumulators'
                // lanes), row 2 interleaved with zeros (two more).
                @inline(__always) func column(_ c: Int) -> (__m512i, __m512i, __m512i, __m512i) {
                    let a = _mm512_cvtepi8_epi16(UnsafeRawPointer(r0 + c * cs).loadUnaligned(as: __m256i.self))
                    let e = _mm512_cvtepi8_epi16(UnsafeRawPointer(r1 + c * cs).loadUnaligned(as: __m256i.self))
                    let f = _mm512_cvtepi8_epi16(UnsafeRawPointer(r2 + c * cs).loadUnaligned(as: __m256i.self))
                    return (_mm512_unpacklo_epi16(a, e), _mm512_unpackhi_epi16(a, e), _mm512_unpacklo_epi16(f, zero), _mm512_unpackhi_epi16(f, zero))
                }
                @inline(__always) func madd(_ acc: __m512i, _ v: __m512i, _ k: Int, _ i: Int) -> __m512i {
                    _mm512_add_epi32(acc, _mm512_madd_epi16(v, w(k, i)))
                }
                let outRow = output + (n * g.outH + oh - firstRow) * g.outW * g.outC + b * 32
                typealias Column = (__m512i, __m512i, __m512i, __m512i)
                @inline(__always) func sums(_ c0: Column, _ c1: Column, _ c2: Column) -> (__m512i, __m512i) {
                    let acc0 = madd(madd(madd(madd(bias0, c0.0, 0, 0), c0.2, 0, 2), c1.0, 1, 0), c1.2, 1, 2)
                    let acc1 = madd(madd(madd(madd(bias1, c0.1, 0, 1), c0.3, 0, 3), c1.1, 1, 1), c1.3, 1, 3)
                    return (_mm512_add_epi32(acc0, madd(_mm512_madd_epi16(c2.0, w(2, 0)), c2.2, 2, 2)),
                            _mm512_add_epi32(acc1, madd(_mm512_madd_epi16(c2.1, w(2, 1)), c2.3, 2, 3)))
                }
                @inline(__always) func single(_ ow: Int, _ acc: (__m512i, __m512i)) {
                    let q0 = requantize16AVX512(acc.0, table: t0, o), q1 = requantize16AVX512(acc.1, table: t1, o)
                    // Dwords of q0 hold channels 0-3, 8-11, ..., of q1 4-7, 12-15, ...: interleaved back.
                    let out = outRow + ow * g.outC
                    store16(_mm_unpacklo_epi32(q0, q1), out, valid: min(valid, 16))
                    if valid > 16 { store16(_mm_unpackhi_epi32(q0, q1), out + 16, valid: valid - 16) }
                }
                // Pixels ow and ow + 1 narrowed together (`narrowPairsAVX512`).
                @inline(__always) func pair(_ ow: Int, _ p: (__m512i, __m512i), _ q: (__m512i, __m512i)) {
                    let (bp, bq) = narrowPairsAVX512(o.multiply(p.0, table: t0), o.multiply(p.1, table: t1),
                                                     o.multiply(q.0, table: t0), o.multiply(q.1, table: t1), o, orderP: orderP, orderQ: orderQ)
                    storePairAVX512(bp, bq, outRow + ow * g.outC, next: g.outC, valid: valid)
                }
                var ow = 0
                if g.strideW == 1 {
                    // Each output pixel brings one new column.
                    var c0 = column(0), c1 = column(1)
                    while ow + 2 <= g.outW {
                        let c2 = column(ow + 2), c3 = column(ow + 3)
                        pair(ow, sums(c0, c1, c2), sums(c1, c2, c3))
                        c0 = c2
                        c1 = c3
                        ow += 2
                    }
                    if ow < g.outW { single(ow, sums(c0, c1, column(ow + 2))) }
                } else {
                    // Stride 2: two new columns per pixel, the last one shared with the next pixel.
                    var c0 = column(0)
                    while ow + 2 <= g.outW {
                        let c2 = column(2 * ow + 2), c4 = column(2 * ow + 4)
                        pair(ow, sums(c0, column(2 * ow + 1), c2), sums(c2, column(2 * ow + 3), c4))
                        c0 = c4
                        ow += 2
                    }
                    if ow < g.outW { single(ow, sums(c0, column(2 * ow + 1), column(2 * ow + 2))) }
                }
            }
        }
    }
}
#else
/// Whether this build of the kernels runs the AVX-512 VNNI int8 path.
public let quantizedKernelsUseVNNI = false
#endif
