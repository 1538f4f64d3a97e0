// AVX-512 paths of the int8 kernels (F, BW, VL and VNNI), compiled where the build defines
// FERCC_AVX512 (with FERCC_AVX2, and -march=x86-64-v4 -mavx512vnni or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX512/Requantize+AVX512.swift Int8/AVX2/DepthwiseConv+AVX2.swift
// fercc-kernel requires: Int8/QuantizedConvParameters.swift

#if arch(x86_64) && FERCC_AVX512
import _Builtin_intrinsics.intel

extension Kernels {
    /// The channel (within its block of 32) that lane `i` of the AVX-512 depthwise accumulators
    /// holds: lanes 0-15 are the first accumulator (channels 0-3, 8-11, 16-19, 24-27: the 16-bit
    /// interleave works within 128-bit quarters), lanes 16-31 the second (4-7, 12-15, 20-23, 28-31).
    static func depthwiseChannelAVX512(_ i: Int) -> Int {
        let second = i / 16, l = i % 16
        return (l / 4) * 8 + second * 4 + l % 4
    }

    /// Whether `depthwiseConvAVX512` slides a window of columns along the row (3x3, no dilation,
    /// stride 1 or 2 across the row): each column of three input pixels is loaded and interleaved
    /// once instead of three times (stride 1) or 1.5 times (stride 2).
    static func slidesColumnsAVX512(_ g: Conv2DGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && (g.strideW == 1 || g.strideW == 2) && g.dilationH == 1 && g.dilationW == 1
    }

    /// Depthwise weights for `depthwiseConvAVX512`, [block of 32][tap pair][32 lanes][2 taps] (an
    /// odd last tap pairs with zero weights), and the table: two 16-lane parts per block, lanes in
    /// the accumulators' order.
    static func packDepthwiseAVX512(_ g: Conv2DGeometry, _ weights: [Int8], folded: [Int32], _ r: Requantization) -> (
        [Int16], [Int32]
    ) {
        let taps = g.kernelH * g.kernelW, tapPairs = (taps + 1) / 2
        let blocks = (g.outC + 31) / 32
        var packed = [Int16](repeating: 0, count: blocks * tapPairs * 64)
        for b in 0..<blocks {
            for lane in 0..<32 {
                let c = b * 32 + depthwiseChannelAVX512(lane)
                guard c < g.outC else { continue }
                for t in 0..<taps {
                    packed[(b * tapPairs + t / 2) * 64 + lane * 2 + t % 2] = Int16(weights[c * taps + t])
                }
            }
        }
        return (packed, depthwiseTableAVX512(g, channel: depthwiseChannelAVX512, bias: folded, r))
    }

    /// The table of an AVX-512 depthwise kernel whose lane i of each block of 32 holds that
    /// block's channel `channel(i)`: two 16-lane parts per block.
    static func depthwiseTableAVX512(_ g: Conv2DGeometry, channel: (Int) -> Int, bias: [Int32], _ r: Requantization)
        -> [Int32]
    {
        let blocks = (g.outC + 31) / 32
        return AVX2Table.make(
            blocks: blocks * 2,
            channelOfLane: { lane in
                let c = (lane / 32) * 32 + channel(lane % 32)
                return c < g.outC ? c : nil
            }, bias: bias, r)
    }

    /// The channel (within its block of 32) that lane `i` of `depthwiseColumnsAVX512`'s
    /// accumulators holds: lanes 0-15 are the first accumulator (channels 0-3, 16-19, 8-11,
    /// 24-27: the byte and word interleaves work within 128-bit quarters of two 256-bit halves),
    /// lanes 16-31 the second (4-7, 20-23, 12-15, 28-31).
    static func depthwiseColumnChannelAVX512(_ i: Int) -> Int {
        let second = i / 16, quarter = (i % 16) / 4
        return (quarter % 2) * 16 + (quarter / 2) * 8 + second * 4 + i % 4
    }

    /// Weights and table for `depthwiseColumnsAVX512` (layers that slide columns): per block of 32
    /// and kernel column k, two vectors of 16 lanes x 4 bytes (the first accumulator's lanes, then
    /// the second's), each lane rows 0, 1 and 2 of column k and a zero: the quads `vpdpbusd`
    /// multiplies with a column of three input pixels. The table's biases take 128 times the
    /// channel's weight sum off: the kernel's input bytes are flipped (x + 128 as unsigned), so the
    /// accumulators end where `depthwiseConvAVX512`'s do.
    static func packDepthwiseColumnsVNNI(_ p: QuantizedConvParameters) -> ([Int8], [Int32]) {
        let g = p.geometry, weights = p.weights
        let blocks = (g.outC + 31) / 32
        var packed = [Int8](repeating: 0, count: blocks * 3 * 128)
        for b in 0..<blocks {
            for lane in 0..<32 {
                let c = b * 32 + depthwiseColumnChannelAVX512(lane)
                guard c < g.outC else { continue }
                for k in 0..<3 {
                    for row in 0..<3 {
                        packed[(b * 3 + k) * 128 + lane * 4 + row] = weights[c * 9 + row * 3 + k]
                    }
                }
            }
        }
        let shifted = (0..<g.outC).map { p.folded[$0] &- 128 &* p.sums[$0] }
        return (packed, depthwiseTableAVX512(g, channel: depthwiseColumnChannelAVX512, bias: shifted, p.requant))
    }

    /// Depthwise int8 convolution with 512-bit 16-bit multiply-adds over pairs of taps: 32 channels
    /// of two taps, sign-extended and interleaved, against weights interleaved the same way, into two
    /// accumulators of 16 channels. `x` holds `channelStride` (a multiple of 32) bytes per pixel,
    /// padded with the zero point. Layers that slide columns take `depthwiseColumnsAVX512`
    /// instead. Output pixels are `outStride` bytes apart (`outC` up to `outC` rounded up to 32).
    /// With `rows` (batch 1 only) it computes those output rows into `output` as rows 0, 1, ...
    /// `flip` stores each byte with its sign bit flipped (x + 128 as unsigned: the input
    /// `denseConvVNNI` takes).
    static func depthwiseConvAVX512(
        _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int16>, table: UnsafePointer<Int32>, _ o: AVX512Output,
        output: UnsafeMutablePointer<Int8>, outStride os: Int, rows: Range<Int>? = nil, flip: Bool = false
    ) {
        let outRows = rows ?? 0..<g.outH, firstRow = rows?.lowerBound ?? 0
        let taps = g.kernelH * g.kernelW
        let tapPairs = (taps + 1) / 2
        let blocks = (g.outC + 31) / 32
        let sign = _mm_set1_epi8(flip ? -128 : 0)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: tapPairs * 2) { tapOffsets in
            for i in 0..<(tapPairs * 2) {
                let tap = min(i, taps - 1)  // the padding tap reads the last tap again (its weights are zero)
                tapOffsets[i] = ((tap / g.kernelW) * g.dilationH * pw + (tap % g.kernelW) * g.dilationW) * cs
            }
            for n in 0..<g.batch {
                for oh in outRows {
                    for b in 0..<blocks {
                        let valid = min(os - b * 32, 32)
                        let t0 = table + 2 * b * AVX2Table.stride, t1 = t0 + AVX2Table.stride
                        let wb = weights + b * tapPairs * 64
                        let bias0 = loadM512(UnsafeRawPointer(t0)), bias1 = loadM512(UnsafeRawPointer(t1))
                        let row = x + (n * ph + oh * g.strideH) * pw * cs + b * 32
                        let outRow = output + (n * g.outH + oh - firstRow) * g.outW * os + b * 32
                        for ow in 0..<g.outW {
                            let px = row + ow * g.strideW * cs
                            var acc0 = bias0, acc1 = bias1
                            for j in 0..<tapPairs {
                                let xa = _mm512_cvtepi8_epi16(
                                    UnsafeRawPointer(px + tapOffsets[2 * j]).loadUnaligned(as: __m256i.self))
                                let xb = _mm512_cvtepi8_epi16(
                                    UnsafeRawPointer(px + tapOffsets[2 * j + 1]).loadUnaligned(as: __m256i.self))
                                let w = UnsafeRawPointer(wb + j * 64)
                                acc0 = _mm512_add_epi32(
                                    acc0, _mm512_madd_epi16(_mm512_unpacklo_epi16(xa, xb), loadM512(w)))
                                acc1 = _mm512_add_epi32(
                                    acc1, _mm512_madd_epi16(_mm512_unpackhi_epi16(xa, xb), loadM512(w + 64)))
                            }
                            let q0 = requantize16AVX512(acc0, table: t0, o), q1 = requantize16AVX512(acc1, table: t1, o)
                            // Dwords of q0 hold channels 0-3, 8-11, ..., of q1 4-7, 12-15, ...: interleaved back.
                            let out = outRow + ow * os
                            store16(_mm_xor_si128(_mm_unpacklo_epi32(q0, q1), sign), out, valid: min(valid, 16))
                            if valid > 16 {
                                store16(_mm_xor_si128(_mm_unpackhi_epi32(q0, q1), sign), out + 16, valid: valid - 16)
                            }
                        }
                    }
                }
            }
        }
    }

    /// How `depthwiseColumnsAVX512` stores its bytes: as they are, or with the sign bit flipped. A
    /// type, so that each is compiled on its own: as a variable, the flip's vectors took registers
    /// the loop needed (spills, 8% slower).
    protocol DepthwiseBytes { static var flipped: Bool { get } }
    enum PlainBytes: DepthwiseBytes { static var flipped: Bool { false } }
    enum FlippedBytes: DepthwiseBytes { static var flipped: Bool { true } }

    /// A depthwise 3x3 layer that slides columns (`slidesColumnsAVX512`), 32 channels at a time
    /// with `vpdpbusd`: along an output row, each column of three input pixels is flipped (x + 128
    /// as unsigned) and interleaved once into quads of rows 0, 1, 2 (and row 2 again, whose weight
    /// is zero) per channel, and serves every output pixel whose window holds it (three at stride
    /// 1). One `vpdpbusd` per column and 16 channels does what took two 16-bit multiply-adds and
    /// two adds; the table's biases make up for the flip (`packDepthwiseColumnsVNNI`), so the
    /// accumulators and bytes are `depthwiseConvAVX512`'s. It reads the layer's input `x` itself
    /// (`g.inC` bytes per pixel; a partial last block of 32 channels by masked loads), and pixels
    /// of the padding as `fill`: a padded copy of the input cost MobileNetV2's int8 layers 4% of
    /// their time in `memmove` and `memset`. `rows` and `B`: see `depthwiseConvAVX512`.
    @inline(never)
    static func depthwiseColumnsAVX512<B: DepthwiseBytes>(
        _: B.Type, _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, fill: Int8, weights: UnsafeRawPointer,
        table: UnsafePointer<Int32>, _ o: AVX512Output, output: UnsafeMutablePointer<Int8>, outStride os: Int,
        rows outRows: Range<Int>, firstRow: Int
    ) {
        let flip = B.flipped
        let blocks = (g.outC + 31) / 32
        let sign = _mm512_set1_epi8(-128)
        let fillColumn = _mm512_set1_epi8(fill ^ -128)
        @inline(__always) func flipped(_ v: __m256i) -> __m256i {
            flip ? _mm256_xor_si256(v, _mm256_set1_epi8(-128)) : v
        }
        let cs = g.inC, inW = UInt(g.inW)
        // After `packBytesAVX512`, 128-bit lane i holds four channels of each of the first pixel's
        // accumulators, then the second's: channels 8i..8i+7 for i = 0, 2 and 16 more for 1, 3
        // (`depthwiseColumnChannelAVX512`).
        let orderP = dwordsAVX512(0, 1, 8, 9, 4, 5, 12, 13), orderQ = dwordsAVX512(2, 3, 10, 11, 6, 7, 14, 15)
        // Rows of the padding read the same 32 bytes of `fill` at every column (a stride of 0).
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 32) { fillBytes in
            fillBytes.initialize(repeating: fill)
            let fillRow = UnsafePointer(fillBytes.baseAddress!)
            for n in 0..<g.batch {
                for oh in outRows {
                    // Window row k's first pixel and the bytes between its pixels.
                    @inline(__always) func inputRow(_ k: Int) -> (UnsafePointer<Int8>, Int) {
                        let ih = oh * g.strideH + k - g.padTop
                        return ih >= 0 && ih < g.inH ? (x + (n * g.inH + ih) * g.inW * cs, cs) : (fillRow, 0)
                    }
                    let (row0, s0) = inputRow(0), (row1, s1) = inputRow(1), (row2, s2) = inputRow(2)
                    let outRow = output + (n * g.outH + oh - firstRow) * g.outW * os
                    for b in 0..<blocks {
                        let valid = min(g.outC - b * 32, 32), stored = min(os - b * 32, 32)
                        let mask = UInt32(truncatingIfNeeded: (1 << valid) - 1)
                        let storeMask = UInt32(truncatingIfNeeded: (1 << stored) - 1)
                        let t0 = table + 2 * b * AVX2Table.stride, t1 = t0 + AVX2Table.stride
                        let bias0 = loadM512(UnsafeRawPointer(t0)), bias1 = loadM512(UnsafeRawPointer(t1))
                        let r0 = row0 + (s0 == 0 ? 0 : b * 32), r1 = row1 + (s1 == 0 ? 0 : b * 32)
                        let r2 = row2 + (s2 == 0 ? 0 : b * 32)
                        let wc = weights + b * 3 * 128
                        @inline(__always) func w(_ k: Int, _ i: Int) -> __m512i { loadM512(wc + (k * 2 + i) * 64) }
                        // Column c of the padded input (input column c - padLeft; `fill` in the
                        // padding), flipped, as quads of rows 0, 1, 2, 2 in the two accumulators'
                        // lanes: bytes of rows 0 and 1 interleaved, of row 2 with itself, then words.
                        @inline(__always) func column(_ c: Int) -> (__m512i, __m512i) {
                            let iw = c &- g.padLeft
                            guard UInt(bitPattern: iw) < inW else { return (fillColumn, fillColumn) }
                            let a = _mm256_maskz_loadu_epi8(mask, r0 + iw &* s0)
                            let e = _mm256_maskz_loadu_epi8(mask, r1 + iw &* s1)
                            let f = _mm256_maskz_loadu_epi8(mask, r2 + iw &* s2)
                            let lo = _mm256_unpacklo_epi8(a, e), hi = _mm256_unpackhi_epi8(a, e)
                            let flo = _mm256_unpacklo_epi8(f, f), fhi = _mm256_unpackhi_epi8(f, f)
                            let v0 = _mm512_mask_broadcast_i64x4(
                                _mm512_castsi256_si512(_mm256_unpacklo_epi16(lo, flo)), 0xF0,
                                _mm256_unpacklo_epi16(hi, fhi))
                            let v1 = _mm512_mask_broadcast_i64x4(
                                _mm512_castsi256_si512(_mm256_unpackhi_epi16(lo, flo)), 0xF0,
                                _mm256_unpackhi_epi16(hi, fhi))
                            return (_mm512_xor_si512(v0, sign), _mm512_xor_si512(v1, sign))
                        }
                        let outBlock = outRow + b * 32
                        typealias Column = (__m512i, __m512i)
                        @inline(__always) func sums(_ c0: Column, _ c1: Column, _ c2: Column) -> (__m512i, __m512i) {
                            (
                                _mm512_dpbusd_epi32(
                                    _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias0, c0.0, w(0, 0)), c1.0, w(1, 0)),
                                    c2.0, w(2, 0)),
                                _mm512_dpbusd_epi32(
                                    _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias1, c0.1, w(0, 1)), c1.1, w(1, 1)),
                                    c2.1, w(2, 1))
                            )
                        }
                        // Pixels ow and ow + 1 narrowed together (`narrowPairsAVX512`); a last
                        // pixel alone with itself.
                        @inline(__always) func pair(_ ow: Int, _ p: (__m512i, __m512i), _ q: (__m512i, __m512i)) {
                            let (bp, bq) = narrowPairsAVX512(
                                o.multiply(p.0, table: t0), o.multiply(p.1, table: t1),
                                o.multiply(q.0, table: t0), o.multiply(q.1, table: t1), o, orderP: orderP,
                                orderQ: orderQ)
                            storePairAVX512(
                                flipped(bp), flipped(bq), outBlock + ow * os, next: os, valid: stored)
                        }
                        @inline(__always) func single(_ ow: Int, _ p: (__m512i, __m512i)) {
                            let m0 = o.multiply(p.0, table: t0), m1 = o.multiply(p.1, table: t1)
                            let bp = _mm512_castsi512_si256(
                                _mm512_permutexvar_epi32(orderP, packBytesAVX512(m0, m1, m0, m1, o)))
                            _mm256_mask_storeu_epi8(outBlock + ow * os, storeMask, flipped(bp))
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
    }

    /// An int8 depthwise convolution of more than 16 channels on AVX-512 (`depthwiseConvAVX512`):
    /// 32 channels per step, the input copy's channels padded to 32.
    struct QuantizedDepthwiseConvAVX512 {
        let p: QuantizedConvParameters
        /// `packDepthwiseAVX512`'s weights, or for layers that slide columns
        /// `packDepthwiseColumnsVNNI`'s (`slides`), and the table that goes with them.
        let packed: [Int16]
        let columnWeights: [Int8]
        let table: [Int32]
        /// The requantization's vectors, built once (`AVX512Output`, with `roundingAVX512`).
        let requantizer: AVX512Output
        let channelStride: Int
        let slides: Bool
        /// Layers that slide columns read the input itself (`depthwiseColumnsAVX512`).
        var needsPaddedCopy: Bool {
            !slides && (p.geometry.hasPadding || p.geometry.inC != channelStride)
        }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            requantizer = AVX512Output(p.requant, rounding: roundingAVX512(p))
            slides = slidesColumnsAVX512(p.geometry)
            if slides {
                packed = []
                (columnWeights, table) = packDepthwiseColumnsVNNI(p)
            } else {
                columnWeights = []
                (packed, table) = packDepthwiseAVX512(p.geometry, p.weights, folded: p.folded, p.requant)
            }
            channelStride = (p.geometry.outC + 31) / 32 * 32
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

        /// `x` as `padded` returns it. `flip`: see `depthwiseConvAVX512`. `outStride`: bytes per
        /// output pixel, `outC` (the default) up to `outC` rounded up to 32; the bytes past `outC`
        /// get whatever lanes without a channel compute.
        func runPadded(
            _ x: UnsafePointer<Int8>, paddedH: Int, paddedW: Int, output: UnsafeMutablePointer<Int8>,
            outStride: Int? = nil, rows: Range<Int>? = nil, flip: Bool = false
        ) {
            let os = outStride ?? p.geometry.outC
            table.withUnsafeBufferPointer { t in
                if slides {
                    let o = requantizer
                    let fill = Int8(truncatingIfNeeded: p.inputZeroPoint)
                    let outRows = rows ?? 0..<p.geometry.outH, firstRow = rows?.lowerBound ?? 0
                    columnWeights.withUnsafeBytes { w in
                        if flip {
                            depthwiseColumnsAVX512(
                                FlippedBytes.self, x, p.geometry, fill: fill, weights: w.baseAddress!,
                                table: t.baseAddress!, o, output: output, outStride: os, rows: outRows,
                                firstRow: firstRow)
                        } else {
                            depthwiseColumnsAVX512(
                                PlainBytes.self, x, p.geometry, fill: fill, weights: w.baseAddress!,
                                table: t.baseAddress!, o, output: output, outStride: os, rows: outRows,
                                firstRow: firstRow)
                        }
                    }
                    return
                }
                packed.withUnsafeBufferPointer { w in
                    depthwiseConvAVX512(
                        x, paddedH: paddedH, paddedW: paddedW, channelStride: channelStride, p.geometry,
                        weights: w.baseAddress!, table: t.baseAddress!, requantizer, output: output,
                        outStride: os, rows: rows, flip: flip)
                }
            }
        }
    }
}
#endif
