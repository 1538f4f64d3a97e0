// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift
// fercc-kernel requires(avx512): Int8/AVX512/Requantize+AVX512.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// Depthwise int8 convolution with AVX2 multiply-adds over pairs of taps: 16 channels of two
    /// taps, sign-extended to int16 and interleaved, against weights interleaved the same way
    /// ([block][tap pair][16 lanes][2 taps]; an odd last tap pairs with zero weights). The
    /// accumulators then hold channels 0-3, 8-11 and 4-7, 12-15, the order of the block's table.
    /// `x` holds `channelStride` (a multiple of 16) bytes per pixel, padded with the zero point
    /// (an int16 copy measured no faster: the sign extension is not the bottleneck).
    /// With `rows` (batch 1 only) it computes those output rows into `output` as rows 0, 1, ...
    static func depthwiseConvAVX2(
        _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int16>, blocks: Int, table: UnsafePointer<Int32>,
        _ o: AVX2Output, output: UnsafeMutablePointer<Int8>, rows: Range<Int>? = nil, wide: WideRows? = nil
    ) {
        let outRows = rows ?? 0..<g.outH, firstRow = rows?.lowerBound ?? 0
        let taps = g.kernelH * g.kernelW
        let tapPairs = (taps + 1) / 2
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
                        @inline(__always) func addTapPair(
                            _ px: UnsafePointer<Int8>, _ j: Int, _ w0: __m256i, _ w1: __m256i,
                            _ lo: inout __m256i, _ hi: inout __m256i
                        ) {
                            let xa = _mm256_cvtepi8_epi16(
                                UnsafeRawPointer(px + tapOffsets[2 * j]).loadUnaligned(as: __m128i.self))
                            let xb = _mm256_cvtepi8_epi16(
                                UnsafeRawPointer(px + tapOffsets[2 * j + 1]).loadUnaligned(as: __m128i.self))
                            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), w0))
                            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), w1))
                        }
                        // Two output pixels per step: the weights loaded once, the narrowing shared.
                        let pixelStep = g.strideW * cs
                        var ow = 0
                        #if FERCC_AVX512
                        if let wide {
                            ow = wide.row(
                                row, UnsafePointer(tapOffsets.baseAddress!), tapPairs, wb, outW: g.outW, outC: g.outC,
                                outRow)
                        }
                        #endif
                        while ow + 2 <= g.outW {
                            let px = row + ow * pixelStep
                            var accLo = bias0, accHi = bias1, bccLo = bias0, bccHi = bias1
                            for j in 0..<tapPairs {
                                let w = UnsafeRawPointer(wb + j * 32)
                                let w0 = loadM256(w), w1 = loadM256(w + 32)
                                addTapPair(px, j, w0, w1, &accLo, &accHi)
                                addTapPair(px + pixelStep, j, w0, w1, &bccLo, &bccHi)
                            }
                            requantizePairAVX2(
                                accLo, accHi, bccLo, bccHi, table: t, o, order: pairInterleavedOrder,
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
                            store16(
                                requantize16AVX2(accLo, accHi, table: t, o, order: interleavedOrder),
                                outRow + ow * g.outC, valid: valid)
                        }
                    }
                }
            }
        }
    }

    #if FERCC_AVX512
    /// AVX-512 builds: rows of a depthwise layer of 8 or 16 channels at stride 1 on 512-bit lanes.
    /// 16 channels (a 16-byte input pixel): four output pixels at a time, one 32-byte load
    /// sign-extended being two adjacent pixels' 16 channels of one tap, so each multiply-add does
    /// two pixels' work of the 256-bit loop, and the requantization runs 16 lanes per step. The
    /// lanes hold [pixel p | pixel p + 1] of the 256-bit accumulators' order, so the table is the
    /// AVX2 table's halves each repeated ([lanes 0-7 | 0-7] for the first accumulator, [8-15 |
    /// 8-15] for the second). 8 channels (`eight`: an 8-byte input pixel, `channelStride` 8):
    /// eight output pixels at a time, a 32-byte load being four pixels, each 128-bit lane one
    /// pixel's channels 0-3 (first accumulator) or 4-7 (second) after the interleave, against
    /// the table's lanes 0-3 or 8-11 repeated four times; the row's last pixels with masked loads
    /// and stores (nothing read or written past the row's pixels). Same sums in the same order,
    /// same requantization: the same bytes.
    struct WideRows {
        let table: [Int32]
        let output: AVX512Output
        let eight: Bool

        /// Whether a layer's rows run eight pixels at a time (8 channels, stride 1), on an input of
        /// 8 bytes per pixel.
        static func eight(_ g: Conv2DGeometry) -> Bool { g.outC == 8 && g.strideW == 1 }

        /// nil unless the layer fits: one block (at most 16 channels, 8 or 16 of them: whole
        /// 8- or 16-byte output pixels), stride 1.
        init?(_ p: QuantizedConvParameters, table t: [Int32]) {
            let g = p.geometry
            guard g.outC == 8 || g.outC == 16, g.strideW == 1 else { return nil }
            eight = Self.eight(g)
            var wide = [Int32](repeating: 0, count: 2 * AVX2Table.stride)
            for half in 0..<2 {
                for part in Swift.stride(from: 0, to: AVX2Table.stride, by: 16) {
                    for l in 0..<16 {
                        wide[half * AVX2Table.stride + part + l] =
                            eight ? t[part + half * 8 + l % 4] : t[part + half * 8 + l % 8]
                    }
                }
            }
            table = wide
            output = AVX512Output(p.requant, rounding: roundingAVX512(p))
        }

        /// Output pixels 0, 1, ... of one row, four at a time (`row`: the padded input at the row's
        /// first window, 16 bytes per pixel); returns how many it wrote (a multiple of 4).
        @inline(__always)
        func row(
            _ row: UnsafePointer<Int8>, _ tapOffsets: UnsafePointer<Int>, _ tapPairs: Int,
            _ weights: UnsafePointer<Int16>, outW: Int, outC: Int, _ outRow: UnsafeMutablePointer<Int8>
        ) -> Int {
            let o = output
            return table.withUnsafeBufferPointer { tp in
                let tLo = tp.baseAddress!, tHi = tLo + AVX2Table.stride
                let biasLo = loadM512(UnsafeRawPointer(tLo)), biasHi = loadM512(UnsafeRawPointer(tHi))
                // After `packBytesAVX512`, 128-bit lanes 0 and 1 hold channels 0-7 and 8-15 of pixels
                // 0 and 2, lanes 2 and 3 those of pixels 1 and 3 (8 bytes each); the permutes put
                // pixels 0-3 in order, 16 bytes each, or their first 8 bytes each for 8 channels.
                // (`_mm512_set_epi32` lists lanes 15 to 0; an array here cost an allocation per row.)
                let order16 = _mm512_set_epi32(15, 14, 11, 10, 7, 6, 3, 2, 13, 12, 9, 8, 5, 4, 1, 0)
                let order8 = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 11, 10, 3, 2, 9, 8, 1, 0)
                if eight { return rowOfEight(row, tapOffsets, tapPairs, weights, outW: outW, outRow, tLo, tHi) }
                var ow = 0
                while ow &+ 4 <= outW {
                    let px = row + ow &* 16
                    var lo0 = biasLo, hi0 = biasHi, lo1 = biasLo, hi1 = biasHi
                    for j in 0..<tapPairs {
                        let w = UnsafeRawPointer(weights + j &* 32)
                        let w0 = _mm512_broadcast_i64x4(loadM256(w)), w1 = _mm512_broadcast_i64x4(loadM256(w + 32))
                        let pa = px + tapOffsets[2 &* j], pb = px + tapOffsets[2 &* j &+ 1]
                        @inline(__always) func two(_ k: Int) -> (__m512i, __m512i) {
                            (
                                _mm512_cvtepi8_epi16(UnsafeRawPointer(pa + k).loadUnaligned(as: __m256i.self)),
                                _mm512_cvtepi8_epi16(UnsafeRawPointer(pb + k).loadUnaligned(as: __m256i.self))
                            )
                        }
                        let (a0, b0) = two(0), (a1, b1) = two(32)
                        lo0 = _mm512_add_epi32(lo0, _mm512_madd_epi16(_mm512_unpacklo_epi16(a0, b0), w0))
                        hi0 = _mm512_add_epi32(hi0, _mm512_madd_epi16(_mm512_unpackhi_epi16(a0, b0), w1))
                        lo1 = _mm512_add_epi32(lo1, _mm512_madd_epi16(_mm512_unpacklo_epi16(a1, b1), w0))
                        hi1 = _mm512_add_epi32(hi1, _mm512_madd_epi16(_mm512_unpackhi_epi16(a1, b1), w1))
                    }
                    let bytes = packBytesAVX512(
                        o.multiply(lo0, table: tLo), o.multiply(hi0, table: tHi), o.multiply(lo1, table: tLo),
                        o.multiply(hi1, table: tHi), o)
                    let out = UnsafeMutableRawPointer(outRow + ow &* outC)
                    if outC == 16 {
                        out.storeBytes(of: _mm512_permutexvar_epi32(order16, bytes), as: __m512i.self)
                    } else {
                        out.storeBytes(
                            of: _mm512_castsi512_si256(_mm512_permutexvar_epi32(order8, bytes)), as: __m256i.self)
                    }
                    ow &+= 4
                }
                return ow
            }
        }

        /// `row` for 8 channels (`eight`): every pixel of the row, eight at a time.
        @inline(__always)
        func rowOfEight(
            _ row: UnsafePointer<Int8>, _ tapOffsets: UnsafePointer<Int>, _ tapPairs: Int,
            _ weights: UnsafePointer<Int16>, outW: Int, _ outRow: UnsafeMutablePointer<Int8>,
            _ tLo: UnsafePointer<Int32>, _ tHi: UnsafePointer<Int32>
        ) -> Int {
            let o = output
            let biasLo = loadM512(UnsafeRawPointer(tLo)), biasHi = loadM512(UnsafeRawPointer(tHi))
            // After `packBytesAVX512`, 128-bit lane i holds pixel i's 8 bytes, then pixel 4 + i's.
            let order = _mm512_set_epi32(15, 14, 11, 10, 7, 6, 3, 2, 13, 12, 9, 8, 5, 4, 1, 0)
            var ow = 0
            while ow < outW {
                // Bytes of the eight pixels that exist: all, or the row's last few.
                let valid = Swift.min(outW &- ow, 8) &* 8
                let first = UInt32(truncatingIfNeeded: (UInt64(1) << Swift.min(valid, 32)) &- 1)
                let second = UInt32(truncatingIfNeeded: (UInt64(1) << Swift.max(valid &- 32, 0)) &- 1)
                let px = row + ow &* 8
                var lo0 = biasLo, hi0 = biasHi, lo1 = biasLo, hi1 = biasHi
                for j in 0..<tapPairs {
                    let w = UnsafeRawPointer(weights + j &* 32)
                    let w0 = _mm512_broadcast_i32x4(w.loadUnaligned(as: __m128i.self))
                    let w1 = _mm512_broadcast_i32x4((w + 32).loadUnaligned(as: __m128i.self))
                    let pa = px + tapOffsets[2 &* j], pb = px + tapOffsets[2 &* j &+ 1]
                    @inline(__always) func four(_ k: Int, _ mask: UInt32) -> (__m512i, __m512i) {
                        (
                            _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, pa + k)),
                            _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, pb + k))
                        )
                    }
                    let (a0, b0) = four(0, first), (a1, b1) = four(32, second)
                    lo0 = _mm512_add_epi32(lo0, _mm512_madd_epi16(_mm512_unpacklo_epi16(a0, b0), w0))
                    hi0 = _mm512_add_epi32(hi0, _mm512_madd_epi16(_mm512_unpackhi_epi16(a0, b0), w1))
                    lo1 = _mm512_add_epi32(lo1, _mm512_madd_epi16(_mm512_unpacklo_epi16(a1, b1), w0))
                    hi1 = _mm512_add_epi32(hi1, _mm512_madd_epi16(_mm512_unpackhi_epi16(a1, b1), w1))
                }
                let bytes = _mm512_permutexvar_epi32(
                    order,
                    packBytesAVX512(
                        o.multiply(lo0, table: tLo), o.multiply(hi0, table: tHi), o.multiply(lo1, table: tLo),
                        o.multiply(hi1, table: tHi), o))
                let out = outRow + ow &* 8
                if valid == 64 {
                    UnsafeMutableRawPointer(out).storeBytes(of: bytes, as: __m512i.self)
                } else {
                    _mm512_mask_storeu_epi8(out, (UInt64(1) << valid) &- 1, bytes)
                }
                ow &+= 8
            }
            return outW
        }
    }
    #else
    /// No wide rows without AVX-512 (an uninhabited type: `WideRows?` is always nil).
    enum WideRows {}
    #endif

    /// An int8 depthwise convolution on AVX2 (`depthwiseConvAVX2`): weights as [block][tap
    /// pair][16 lanes][2 taps], lane i of a block holding channel `interleavedChannel(i)`.
    struct QuantizedDepthwiseConvAVX2 {
        let p: QuantizedConvParameters
        let packed: [Int16]
        let table: [Int32]
        /// The requantization's vectors, built once (`AVX2Output`; folded where `foldedRoundingAVX2`).
        let requantizer: AVX2Output
        /// Bytes per pixel of the padded input copy (channels padded to 16; 8 for `WideRows.eight`).
        let channelStride: Int
        let wide: WideRows?
        var needsPaddedCopy: Bool { p.geometry.hasPadding || p.geometry.inC != channelStride }

        /// The channel (within its block of 16) that lane `i` of the AVX2 depthwise accumulators
        /// holds: 0-3, 8-11, then 4-7, 12-15 (the 16-bit interleave works within 128-bit halves).
        static func interleavedChannel(_ i: Int) -> Int {
            let half = i / 8, within = i % 8
            return (within / 4) * 8 + half * 4 + within % 4
        }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW
            requantizer = AVX2Output(
                p.requant,
                folded: foldedRoundingAVX2(p.requant, channels: g.outC, accumulatorBound: p.accumulatorBound))
            let tapPairs = (taps + 1) / 2
            var packed = [Int16](repeating: 0, count: p.blocks * tapPairs * 32)
            for b in 0..<p.blocks {
                for lane in 0..<16 {
                    let c = b * 16 + Self.interleavedChannel(lane)
                    guard c < g.outC else { continue }
                    for t in 0..<taps {
                        packed[(b * tapPairs + t / 2) * 32 + lane * 2 + t % 2] = Int16(p.weights[c * taps + t])
                    }
                }
            }
            self.packed = packed
            table = AVX2Table.make(
                blocks: p.blocks,
                channelOfLane: { lane in
                    let c = (lane / 16) * 16 + Self.interleavedChannel(lane % 16)
                    return c < g.outC ? c : nil
                }, bias: p.folded, p.requant)
            #if FERCC_AVX512
            wide = WideRows(p, table: table)
            channelStride = WideRows.eight(g) ? 8 : p.blocks * 16
            #else
            channelStride = p.blocks * 16
            wide = nil
            #endif
        }

        var scratchBytes: Int {
            let g = p.geometry
            return needsPaddedCopy ? g.batch * g.paddedH * g.paddedW * channelStride : 0
        }

        func padded(_ input: UnsafePointer<Int8>, _ scratch: UnsafeMutableRawPointer?) -> (
            UnsafePointer<Int8>, Int, Int
        ) {
            zeroPointPadded(
                input, p.geometry, channelStride: channelStride, copy: needsPaddedCopy, zeroPoint: p.inputZeroPoint,
                scratch)
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let (x, ph, pw) = padded(input, scratch)
            runPadded(x, paddedH: ph, paddedW: pw, output: output)
        }

        /// Output rows `rows` (all when nil; batch 1 only otherwise) of the padded input `x`.
        func runPadded(
            _ x: UnsafePointer<Int8>, paddedH: Int, paddedW: Int, output: UnsafeMutablePointer<Int8>,
            rows: Range<Int>? = nil
        ) {

            packed.withUnsafeBufferPointer { w in
                table.withUnsafeBufferPointer { t in
                    depthwiseConvAVX2(
                        x, paddedH: paddedH, paddedW: paddedW, channelStride: channelStride, p.geometry,
                        weights: w.baseAddress!, blocks: p.blocks, table: t.baseAddress!, requantizer,
                        output: output, rows: rows, wide: wide)
                }
            }
        }
    }
}
#endif
