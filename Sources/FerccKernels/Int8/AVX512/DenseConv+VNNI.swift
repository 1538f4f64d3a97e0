// AVX-512 paths of the int8 kernels (F, BW, VL and VNNI), compiled where the build defines
// FERCC_AVX512 (with FERCC_AVX2, and -march=x86-64-v4 -mavx512vnni or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX512/Requantize+AVX512.swift Int8/QuantizedPadding.swift
// fercc-kernel requires: Int8/QuantizedConvParameters.swift Int8/AVX2/DenseConv+AVX2.swift

#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

extension Kernels {
    /// Four bytes of one pixel (four input channels) in every lane.
    @inline(__always)
    static func broadcastQuad(_ p: UnsafePointer<UInt8>) -> __m512i {
        _mm512_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
    }

    /// vpdpbusd on 256 bits (the unmasked intrinsic is a C macro Swift cannot import; an all-ones
    /// mask compiles to the unmasked instruction).
    @inline(__always)
    static func dpbusd256(_ acc: __m256i, _ a: __m256i, _ b: __m256i) -> __m256i {
        _mm256_mask_dpbusd_epi32(acc, 0xFF, a, b)
    }

    /// Copies int8 `x` with its sign bit flipped (x + 128 as unsigned) into a buffer padded with
    /// `fill` (the input zero point, flipped), `channelStride` >= channels bytes per pixel (the
    /// extra ones meet zero weights: `fill`, or with 4 bytes per pixel whatever byte follows).
    static func flipPaddedVNNI(
        _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride cs: Int, fill: UInt8,
        _ y: UnsafeMutablePointer<UInt8>
    ) {
        let ph = g.paddedH, pw = g.paddedW, c = g.inC
        // With `cs == c` or 4 the loops below write every byte of the input's pixels, so only the
        // padding around them needs `fill` (not the whole buffer first: 225 x 225 x 4 bytes for
        // MobileNetV2's stem, most of them written twice).
        if g.hasPadding || cs != c { fillPadding(y, g, channelStride: cs, fill: fill, wholePixels: cs == c || cs == 4) }
        let sign = _mm512_set1_epi8(-128)
        // RGB rows, 16 pixels per step: 128-bit lane k takes the input's dwords 3k..3k+2 (pixels
        // 4k..4k+3), whose 12 bytes the shuffle spreads to 4 bytes per pixel (the fourth zeroed,
        // then 0x80 after the flip).
        let rgbDwords = dwordsAVX512(0, 1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11)
        let rgbBytes = _mm512_set4_epi32(
            Int32(bitPattern: 0x800B_0A09), Int32(bitPattern: 0x8008_0706), Int32(bitPattern: 0x8005_0403),
            Int32(bitPattern: 0x8002_0100))
        @inline(__always) func flip(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutablePointer<UInt8>, _ count: Int) {
            var i = 0
            while i + 64 <= count {
                let v = _mm512_xor_si512(loadM512(UnsafeRawPointer(src + i)), sign)
                UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: __m512i.self)
                i += 64
            }
            // The rest in 8-byte words, the last one overlapping the one before (a byte loop per
            // pixel was what the face detector's 28-, 36- and 42-channel pixels took); bytes below 8.
            let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
            while count >= 8 && i < count {
                let at = Swift.min(i, count &- 8)
                d.storeBytes(
                    of: s.loadUnaligned(fromByteOffset: at, as: UInt64.self) ^ 0x8080_8080_8080_8080,
                    toByteOffset: at, as: UInt64.self)
                i = at &+ 8
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
                    if c == 3 {
                        while w + 16 <= g.inW {
                            let v = _mm512_maskz_loadu_epi8(0xFFFF_FFFF_FFFF, src + w * 3)
                            let spread = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(rgbDwords, v), rgbBytes)
                            UnsafeMutableRawPointer(dst + w * 4).storeBytes(
                                of: _mm512_xor_si512(spread, sign), as: __m512i.self)
                            w += 16
                        }
                    }
                    while w * c + 4 <= g.inW * c {
                        let v = UnsafeRawPointer(src + w * c).loadUnaligned(as: UInt32.self) ^ 0x8080_8080
                        UnsafeMutableRawPointer(dst + w * 4).storeBytes(of: v, as: UInt32.self)
                        w += 1
                    }
                    while w < g.inW {
                        flip(src + w * c, dst + w * 4, c)
                        (dst + w * 4 + c).initialize(repeating: fill, count: 4 - c)
                        w += 1
                    }
                } else {
                    for w in 0..<g.inW { flip(src + w * c, dst + w * cs, c) }
                }
            }
        }
    }

    /// Whether `denseConvVNNI` reads a layer's input rows packed: with no horizontal dilation a
    /// kernel row's taps are `kernelW * inC` adjacent bytes of an unpadded pixel layout, packed when
    /// that takes fewer quads than a whole number of quads per tap, which only channel counts that
    /// are not a multiple of 4 can (a gray 3x3 stem: one quad per kernel row instead of three; an
    /// RGB 7x7 stem: six instead of seven; 5 channels in 3x3: four instead of six; an RGB 3x3 stem
    /// takes three either way and is not packed). The last quad's bytes past the run belong to
    /// the next pixels and meet zero weights.
    static func packsRowsVNNI(_ g: Conv2DGeometry) -> Bool {
        g.dilationW == 1 && (g.kernelW * g.inC + 3) / 4 < g.kernelW * ((g.inC + 3) / 4)
    }

    /// Bytes per pixel of `denseConvVNNI`'s flipped input: the channels (rows packed,
    /// `packsRowsVNNI`) or the channels rounded up to quads.
    static func channelStrideVNNI(_ g: Conv2DGeometry) -> Int {
        packsRowsVNNI(g) ? g.inC : (g.inC + 3) / 4 * 4
    }

    /// The runs `denseConvVNNI` walks (`forEachPixelChunk`: one per kernel row, or per tap with
    /// horizontal dilation) and the quads of input bytes in each.
    static func runQuadsVNNI(_ g: Conv2DGeometry) -> (runs: Int, quads: Int) {
        let cs = channelStrideVNNI(g)
        return g.dilationW == 1 ? (g.kernelH, (g.kernelW * cs + 3) / 4) : (g.kernelH * g.kernelW, cs / 4)
    }

    /// Weights for `denseConvVNNI`: [block of 16 outputs][run][quad][16 outputs][4 bytes], byte j of
    /// a run being tap j / channelStride of the run, channel j % channelStride (`channelStrideVNNI`),
    /// zero past the last channel, the run's end or the last output.
    static func packDenseVNNI(_ g: Conv2DGeometry, _ weights: [Int8]) -> [Int8] {
        let blocks = (g.outC + 15) / 16
        let cs = channelStrideVNNI(g)
        let (runs, quads) = runQuadsVNNI(g)
        var packed = [Int8](repeating: 0, count: blocks * runs * quads * 64)
        for oc in 0..<g.outC {
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    let (run, first) = g.dilationW == 1 ? (kh, kw * cs) : (kh * g.kernelW + kw, 0)
                    for ci in 0..<g.inC {
                        let j = first + ci
                        packed[(((oc / 16) * runs + run) * quads + j / 4) * 64 + (oc % 16) * 4 + j % 4] =
                            weights[((oc * g.kernelH + kh) * g.kernelW + kw) * g.inC + ci]
                    }
                }
            }
        }
        return packed
    }

    /// Regular int8 convolution with vpdpbusd over the flipped, padded input `x` (`channelStrideVNNI`
    /// bytes per pixel): a broadcast quad of one pixel's run of input against 16 output channels'
    /// four weights each. Tiles of 6 output pixels by 32 output channels (two blocks; 8 x 16 for a
    /// last single block; `denseConvNarrowVNNI` for layers of at most 8 outputs), over chunks of
    /// pixels that stay in cache while every block of weights passes over them; accumulators start
    /// from the table's bias (folded, less the offset's sum).
    static func denseConvVNNI(
        _ x: UnsafePointer<UInt8>, paddedH ph: Int, paddedW pw: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int8>, blocks: Int, table: UnsafePointer<Int32>,
        _ o: AVX512Output, output: UnsafeMutablePointer<Int8>
    ) {
        let cs = channelStrideVNNI(g)
        let (runs, quads) = runQuadsVNNI(g)
        if g.outC <= 8 {
            denseConvNarrowVNNI(
                x, paddedH: ph, paddedW: pw, channelStride: cs, g, weights: weights, quads: quads, pairTable: table, o,
                output: output)
            return
        }
        let blockStride = runs * quads * 64
        @inline(__always) func finish(
            _ acc: __m512i, _ t: UnsafePointer<Int32>, _ out: UnsafeMutablePointer<Int8>, _ valid: Int
        ) {
            store16(requantize16AVX512(acc, table: t, o), out, valid: valid)
        }
        @inline(__always) func mbqm(_ x: __m512i, _ t: UnsafePointer<Int32>) -> __m512i { o.multiply(x, table: t) }
        // `narrowPairsAVX512` leaves, in each 128-bit lane i, dwords: the first pixel's channels
        // 4i..4i+3 of each block, then the second pixel's.
        let orderP = dwordsAVX512(0, 4, 8, 12, 1, 5, 9, 13), orderQ = dwordsAVX512(2, 6, 10, 14, 3, 7, 11, 15)
        // Four pixels of one block: after the packs, lane i holds channels 4i..4i+3 of each pixel
        // in turn; `quadOrder` puts each pixel's 16 bytes together, stored with a byte mask each
        // (one 64-byte store when the pixels are adjacent and whole). Layers of at least 16
        // channels only: pixel k's store starts at out + k * (outC - 16), never before `out`.
        let quadOrder = dwordsAVX512(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
        @inline(__always) func quad(
            _ v0: __m512i, _ v1: __m512i, _ v2: __m512i, _ v3: __m512i, _ out: UnsafeMutablePointer<Int8>, _ valid: Int
        ) {
            let b = _mm512_permutexvar_epi32(quadOrder, packBytesAVX512(v0, v1, v2, v3, o))
            if g.outC == 16 {
                UnsafeMutableRawPointer(out).storeBytes(of: b, as: __m512i.self)
            } else {
                let m = UInt64((1 << valid) - 1)
                for k in 0..<4 { _mm512_mask_storeu_epi8(out + k * g.outC - 16 * k, m << (16 * k), b) }
            }
        }
        forEachPixelChunk(g, paddedH: ph, paddedW: pw, channels: cs) { start, end, runs, tapOffsets, pixelOffsets in
            var b0 = 0
            while b0 < blocks {
                // Two blocks (32 channels) per tile when both exist: 6 or 7 pixels x 2 accumulators,
                // each broadcast quad feeding two vpdpbusd.
                var first = start
                var bEnd = b0 + 1
                if b0 + 1 < blocks {
                    bEnd = b0 + 2
                    let tA = table + b0 * AVX2Table.stride, tB = tA + AVX2Table.stride
                    let wA = weights + b0 * blockStride, wB = wA + blockStride
                    let biasA = loadM512(UnsafeRawPointer(tA)), biasB = loadM512(UnsafeRawPointer(tB))
                    let validB = min(g.outC - (b0 + 1) * 16, 16)
                    // Two adjacent pixels of 32 channels per narrowing (a byte mask when the second
                    // block is partial).
                    @inline(__always) func pair(
                        _ ap: __m512i, _ cp: __m512i, _ aq: __m512i, _ cq: __m512i, _ at: UnsafeMutablePointer<Int8>
                    ) {
                        let (bp, bq) = narrowPairsAVX512(
                            mbqm(ap, tA), mbqm(cp, tB), mbqm(aq, tA), mbqm(cq, tB), o, orderP: orderP, orderQ: orderQ)
                        storePairAVX512(bp, bq, at, next: g.outC, valid: 16 + validB)
                    }
                    // A tile of six pixels from `p`, or seven (`seven`, a constant at each call).
                    @inline(__always) func tile(_ p: Int, seven: Bool) {
                        let q = pixelOffsets + (p - start)
                        let x0 = x + q[0], x1 = x + q[1], x2 = x + q[2], x3 = x + q[3], x4 = x + q[4], x5 = x + q[5]
                        let x6 = seven ? x + q[6] : x5
                        var a0 = biasA, a1 = biasA, a2 = biasA, a3 = biasA, a4 = biasA, a5 = biasA, a6 = biasA
                        var c0 = biasB, c1 = biasB, c2 = biasB, c3 = biasB, c4 = biasB, c5 = biasB, c6 = biasB
                        var w = wA, u = wB
                        for run in 0..<runs {
                            let off = tapOffsets[run]
                            let p0 = x0 + off, p1 = x1 + off, p2 = x2 + off, p3 = x3 + off, p4 = x4 + off, p5 = x5 + off
                            let p6 = x6 + off
                            for k in 0..<quads {
                                let wv = loadM512(UnsafeRawPointer(w)), uv = loadM512(UnsafeRawPointer(u))
                                let v0 = broadcastQuad(p0 + 4 * k); a0 = _mm512_dpbusd_epi32(a0, v0, wv);
                                c0 = _mm512_dpbusd_epi32(c0, v0, uv)
                                let v1 = broadcastQuad(p1 + 4 * k); a1 = _mm512_dpbusd_epi32(a1, v1, wv);
                                c1 = _mm512_dpbusd_epi32(c1, v1, uv)
                                let v2 = broadcastQuad(p2 + 4 * k); a2 = _mm512_dpbusd_epi32(a2, v2, wv);
                                c2 = _mm512_dpbusd_epi32(c2, v2, uv)
                                let v3 = broadcastQuad(p3 + 4 * k); a3 = _mm512_dpbusd_epi32(a3, v3, wv);
                                c3 = _mm512_dpbusd_epi32(c3, v3, uv)
                                let v4 = broadcastQuad(p4 + 4 * k); a4 = _mm512_dpbusd_epi32(a4, v4, wv);
                                c4 = _mm512_dpbusd_epi32(c4, v4, uv)
                                let v5 = broadcastQuad(p5 + 4 * k); a5 = _mm512_dpbusd_epi32(a5, v5, wv);
                                c5 = _mm512_dpbusd_epi32(c5, v5, uv)
                                if seven {
                                    let v6 = broadcastQuad(p6 + 4 * k); a6 = _mm512_dpbusd_epi32(a6, v6, wv);
                                    c6 = _mm512_dpbusd_epi32(c6, v6, uv)
                                }
                                w += 64; u += 64
                            }
                        }
                        let out = output + p * g.outC + b0 * 16
                        pair(a0, c0, a1, c1, out)
                        pair(a2, c2, a3, c3, out + 2 * g.outC)
                        pair(a4, c4, a5, c5, out + 4 * g.outC)
                        // The seventh pixel alone: one requantization per block, the same bytes.
                        if seven {
                            finish(a6, tA, out + 6 * g.outC, 16)
                            finish(c6, tB, out + 6 * g.outC + 16, validB)
                        }
                    }
                    // Seven-pixel tiles where they leave fewer pixels over than six (a 7 x 7 map:
                    // 7 tiles instead of 9, the last of which recomputed 5 pixels; 14 accumulators
                    // and 2 weight vectors still leave registers for the broadcasts).
                    let n = end - start
                    let seven = (7 - n % 7) % 7 < (6 - n % 6) % 6
                    let width = seven ? 7 : 6
                    var p = start
                    // The chunk's last pixels as one more whole tile ending at its end, over pixels
                    // already written (the same bytes again), not one pixel at a time: a lone
                    // pixel's vpdpbusd each wait for the one before (a 64-pixel chunk left 4 of
                    // them, about a sixth of ResNet18's int8 time).
                    while p < end && n >= width {
                        if p + width > end { p = end - width }
                        if seven { tile(p, seven: true) } else { tile(p, seven: false) }
                        p += width
                    }
                    first = p
                }
                for b in b0..<bEnd {
                    let valid = min(g.outC - b * 16, 16)
                    let t = table + b * AVX2Table.stride
                    let wb = weights + b * blockStride
                    let bias = loadM512(UnsafeRawPointer(t))
                    var p = first
                    // As above: the last tile again, ending at the chunk's end.
                    while p < end && end - start >= 8 {
                        if p + 8 > end { p = end - 8 }
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

    /// `denseConvVNNI` for layers of at most 8 output channels (a gray stem's 8, a 7-class head):
    /// tiles of 16 pixels, two pixels per 512-bit vector, [pixel p | pixel p + 1]: each step
    /// broadcasts pixel p's quad into lanes 0-7 and pixel p + 1's into lanes 8-15 (a merging
    /// broadcast) against the step's 8 channels of weights in both halves, so one `vpdpbusd` does
    /// two pixels (256-bit ones per pixel did half the work per instruction at the same rate: the
    /// 8-channel layers were a fifth of the imported int8 mini-Xception's time on the Zen 5
    /// machine). The requantization takes the pair as it is, against `pairTable` (the block's
    /// table with lanes 0-7 repeated in lanes 8-15): one 16-byte store per pair of 8-channel
    /// pixels. A chunk's single pixels (under 16) use 256-bit `vpdpbusd`. The same sums and
    /// requantization: the same bytes.
    static func denseConvNarrowVNNI(
        _ x: UnsafePointer<UInt8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int8>, quads: Int, pairTable t: UnsafePointer<Int32>, _ o: AVX512Output,
        output: UnsafeMutablePointer<Int8>
    ) {
        let oc = g.outC
        // The bias for one pixel, and for two: [bias | bias], as the pair table repeats it.
        let bias = loadM256(UnsafeRawPointer(t)), pairBias = loadM512(UnsafeRawPointer(t))
        let mask = UInt16(truncatingIfNeeded: (1 << oc) - 1)
        @inline(__always) func quad(_ p: UnsafePointer<UInt8>) -> __m256i {
            _mm256_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
        }
        /// Four bytes of pixel p's window in lanes 0-7, of pixel q's in lanes 8-15.
        @inline(__always) func quadPair(_ p: UnsafePointer<UInt8>, _ q: UnsafePointer<UInt8>) -> __m512i {
            _mm512_mask_set1_epi32(
                _mm512_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self)), 0xFF00,
                UnsafeRawPointer(q).loadUnaligned(as: Int32.self))
        }
        /// Pixels p and p + 1 (accumulator `a`: [p | p + 1]) at `out`, `out + oc`.
        @inline(__always) func two(_ a: __m512i, _ out: UnsafeMutablePointer<Int8>) {
            let bytes = requantize16AVX512(a, table: t, o)
            if oc == 8 {
                UnsafeMutableRawPointer(out).storeBytes(of: bytes, as: __m128i.self)
            } else {
                _mm_mask_storeu_epi8(out, mask, bytes)
                _mm_mask_storeu_epi8(out + oc, mask, _mm_unpackhi_epi64(bytes, bytes))
            }
        }
        // Every quad's offset in a pixel's window in one list (a gray stem has one quad per run:
        // walking runs, then quads, set up 16 pointers per quad).
        let steps = runQuadsVNNI(g).runs * quads
        withUnsafeTemporaryAllocation(of: Int.self, capacity: steps) { quadOffsets in
            let offsets = quadOffsets.baseAddress!
            forEachPixelChunk(g, paddedH: ph, paddedW: pw, channels: cs) { start, end, runs, tapOffsets, pixelOffsets in
                for run in 0..<runs {
                    for k in 0..<quads { offsets[run * quads + k] = tapOffsets[run] + 4 * k }
                }
                var p = start
                // As in `denseConvVNNI`: the chunk's last tile ends at its end, over pixels already
                // written (the same bytes again).
                while p < end && end - start >= 16 {
                    if p + 16 > end { p = end - 16 }
                    let q = pixelOffsets + (p - start)
                    let p0 = x + q[0], p1 = x + q[1], p2 = x + q[2], p3 = x + q[3]
                    let p4 = x + q[4], p5 = x + q[5], p6 = x + q[6], p7 = x + q[7]
                    let p8 = x + q[8], p9 = x + q[9], p10 = x + q[10], p11 = x + q[11]
                    let p12 = x + q[12], p13 = x + q[13], p14 = x + q[14], p15 = x + q[15]
                    var a0 = pairBias, a1 = pairBias, a2 = pairBias, a3 = pairBias
                    var a4 = pairBias, a5 = pairBias, a6 = pairBias, a7 = pairBias
                    var w = weights
                    for j in 0..<steps {
                        let wv = _mm512_broadcast_i64x4(loadM256(UnsafeRawPointer(w))), i = offsets[j]
                        a0 = _mm512_dpbusd_epi32(a0, quadPair(p0 + i, p1 + i), wv)
                        a1 = _mm512_dpbusd_epi32(a1, quadPair(p2 + i, p3 + i), wv)
                        a2 = _mm512_dpbusd_epi32(a2, quadPair(p4 + i, p5 + i), wv)
                        a3 = _mm512_dpbusd_epi32(a3, quadPair(p6 + i, p7 + i), wv)
                        a4 = _mm512_dpbusd_epi32(a4, quadPair(p8 + i, p9 + i), wv)
                        a5 = _mm512_dpbusd_epi32(a5, quadPair(p10 + i, p11 + i), wv)
                        a6 = _mm512_dpbusd_epi32(a6, quadPair(p12 + i, p13 + i), wv)
                        a7 = _mm512_dpbusd_epi32(a7, quadPair(p14 + i, p15 + i), wv)
                        w += 64
                    }
                    let out = output + p * oc
                    two(a0, out); two(a1, out + 2 * oc); two(a2, out + 4 * oc); two(a3, out + 6 * oc)
                    two(a4, out + 8 * oc); two(a5, out + 10 * oc); two(a6, out + 12 * oc); two(a7, out + 14 * oc)
                    p += 16
                }
                while p < end {
                    let p0 = x + pixelOffsets[p - start]
                    var a0 = bias
                    var w = weights
                    for j in 0..<steps {
                        a0 = dpbusd256(a0, quad(p0 + offsets[j]), loadM256(UnsafeRawPointer(w)))
                        w += 64
                    }
                    _mm_mask_storeu_epi8(
                        output + p * oc, mask, requantize16AVX512(_mm512_zextsi256_si512(a0), table: t, o))
                    p += 1
                }
            }
        }
    }

    /// An int8 regular convolution on AVX-512 VNNI (`denseConvVNNI`): the input copied with its
    /// sign bit flipped (x + 128, unsigned; channels padded to quads with the flipped zero point),
    /// 128 * sum(weights) taken off the folded bias.
    struct QuantizedDenseConvVNNI {
        let p: QuantizedConvParameters
        let packed: [Int8]
        let table: [Int32]
        /// The requantization's vectors, built once (`AVX512Output`, with `roundingAVX512`).
        let requantizer: AVX512Output
        /// Bytes per pixel of the flipped input (`channelStrideVNNI`).
        let channelStride: Int
        var geometry: Conv2DGeometry { p.geometry }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry
            requantizer = AVX512Output(p.requant, rounding: roundingAVX512(p))
            channelStride = channelStrideVNNI(g)
            packed = packDenseVNNI(g, p.weights)
            var table = AVX2Table.make(
                blocks: p.blocks, channelOfLane: { $0 < g.outC ? $0 : nil },
                bias: (0..<g.outC).map { p.folded[$0] &- 128 &* p.sums[$0] }, p.requant)
            if g.outC <= 8 {
                // `denseConvNarrowVNNI`'s pair table: lanes 8-15 of every part repeat lanes 0-7.
                for part in Swift.stride(from: 0, to: AVX2Table.stride, by: 16) {
                    for l in 0..<8 { table[part + 8 + l] = table[part + l] }
                }
            }
            self.table = table
        }

        /// The flipped copy, and with packed rows (`packsRowsVNNI`) 4 bytes after it that the last
        /// pixel's last quad reads (against zero weights).
        var scratchBytes: Int {
            let g = p.geometry
            return g.batch * g.paddedH * g.paddedW * channelStride + (packsRowsVNNI(g) ? 4 : 0)
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
            let g = p.geometry
            let x = scratch.bindMemory(to: UInt8.self, capacity: scratchBytes)
            let fill = UInt8(truncatingIfNeeded: p.inputZeroPoint) ^ 0x80
            flipPaddedVNNI(input, g, channelStride: channelStride, fill: fill, x)
            if packsRowsVNNI(g) {
                (x + g.batch * g.paddedH * g.paddedW * channelStride).initialize(repeating: fill, count: 4)
            }
            runFlipped(x, paddedH: g.paddedH, paddedW: g.paddedW, g, output: output)
        }

        /// The convolution of a flipped copy already made (`g` may be a band of the layer's rows).
        func runFlipped(
            _ x: UnsafePointer<UInt8>, paddedH: Int, paddedW: Int, _ g: Conv2DGeometry,
            output: UnsafeMutablePointer<Int8>
        ) {
            packed.withUnsafeBufferPointer { w in
                table.withUnsafeBufferPointer { t in
                    denseConvVNNI(
                        x, paddedH: paddedH, paddedW: paddedW, g, weights: w.baseAddress!,
                        blocks: p.blocks, table: t.baseAddress!, requantizer, output: output)
                }
            }
        }
    }
}
#endif
