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
    /// the accumulators' order. Layers that slide columns (`slidesColumnsAVX512`) have after those,
    /// per block of 32 and kernel column k, four vectors of 16 lanes x 2 taps: rows 0 and 1 of
    /// column k for the first accumulator's lanes, the same for the second's, then row 2 (with a
    /// zero) for each.
    static func packDepthwiseAVX512(_ g: Conv2DGeometry, _ weights: [Int8], folded: [Int32], _ r: Requantization) -> (
        [Int16], [Int32]
    ) {
        let taps = g.kernelH * g.kernelW, tapPairs = (taps + 1) / 2
        let blocks = (g.outC + 31) / 32
        let columns = slidesColumnsAVX512(g) ? blocks * 3 * 128 : 0
        var packed = [Int16](repeating: 0, count: blocks * tapPairs * 64 + columns)
        let columnBase = blocks * tapPairs * 64
        for b in 0..<blocks {
            for lane in 0..<32 {
                let c = b * 32 + depthwiseChannelAVX512(lane)
                guard c < g.outC else { continue }
                for t in 0..<taps {
                    packed[(b * tapPairs + t / 2) * 64 + lane * 2 + t % 2] = Int16(weights[c * taps + t])
                }
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
        let table = AVX2Table.make(
            blocks: blocks * 2,
            channelOfLane: { lane in
                let c = (lane / 32) * 32 + depthwiseChannelAVX512(lane % 32)
                return c < g.outC ? c : nil
            }, bias: folded, r)
        return (packed, table)
    }

    /// Depthwise int8 convolution with 512-bit 16-bit multiply-adds over pairs of taps: 32 channels
    /// of two taps, sign-extended and interleaved, against weights interleaved the same way, into two
    /// accumulators of 16 channels. `x` holds `channelStride` (a multiple of 32) bytes per pixel,
    /// padded with the zero point; layers that slide columns (`slidesColumnsAVX512`) read the
    /// layer's own input instead (`g.inC` bytes per pixel, no padding; `fill` stands for the
    /// padding). With `rows` (batch 1 only) it computes those output rows into `output` as rows 0,
    /// 1, ... `flip` stores each byte with its sign bit flipped (x + 128 as unsigned: the input
    /// `denseConvVNNI` takes).
    static func depthwiseConvAVX512(
        _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int16>, table: UnsafePointer<Int32>, requant r: Requantization,
        rounding: AVX512Rounding, fill: Int8, output: UnsafeMutablePointer<Int8>, rows: Range<Int>? = nil,
        flip: Bool = false
    ) {
        let outRows = rows ?? 0..<g.outH, firstRow = rows?.lowerBound ?? 0
        let taps = g.kernelH * g.kernelW
        let tapPairs = (taps + 1) / 2
        let blocks = (g.outC + 31) / 32
        let o = AVX512Output(r, rounding: rounding)
        if slidesColumnsAVX512(g) {
            if flip {
                depthwiseColumnsAVX512(
                    FlippedBytes.self, x, g, fill: fill, weights: weights, table: table, o, output: output,
                    rows: outRows, firstRow: firstRow)
            } else {
                depthwiseColumnsAVX512(
                    PlainBytes.self, x, g, fill: fill, weights: weights, table: table, o, output: output,
                    rows: outRows, firstRow: firstRow)
            }
            return
        }
        let sign = _mm_set1_epi8(flip ? -128 : 0)
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
                            let out = outRow + ow * g.outC
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

    /// `depthwiseConvAVX512` for layers that slide columns (`slidesColumnsAVX512`): along an output
    /// row, each column of three input pixels is sign-extended and interleaved once (rows 0 and 1
    /// together, row 2 with zeros) and serves every output pixel whose window holds it (three at
    /// stride 1); the same sums, so the same bytes. It reads the layer's input `x` itself (`g.inC`
    /// bytes per pixel; a partial last block of 32 channels by masked loads), and pixels of the
    /// padding as `fill`: a padded copy of the input cost MobileNetV2's int8 layers 4% of their
    /// time in `memmove` and `memset`.
    @inline(never)
    static func depthwiseColumnsAVX512<B: DepthwiseBytes>(
        _: B.Type, _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, fill: Int8, weights: UnsafePointer<Int16>,
        table: UnsafePointer<Int32>, _ o: AVX512Output, output: UnsafeMutablePointer<Int8>, rows outRows: Range<Int>,
        firstRow: Int
    ) {
        let flip = B.flipped
        let blocks = (g.outC + 31) / 32
        let columnWeights = weights + blocks * 5 * 64
        let zero = _mm512_setzero_si512()
        let fill16 = _mm512_set1_epi16(Int16(fill))
        @inline(__always) func flipped(_ v: __m128i) -> __m128i { flip ? _mm_xor_si128(v, _mm_set1_epi8(-128)) : v }
        @inline(__always) func flipped(_ v: __m256i) -> __m256i {
            flip ? _mm256_xor_si256(v, _mm256_set1_epi8(-128)) : v
        }
        let cs = g.inC, inW = UInt(g.inW)
        // After `narrowPairsAVX512`, 128-bit lane i holds channels 8i..8i+7 of the first pixel (the
        // packs undo the accumulators' interleave), then of the second.
        let orderP = dwordsAVX512([0, 1, 4, 5, 8, 9, 12, 13]), orderQ = dwordsAVX512([2, 3, 6, 7, 10, 11, 14, 15])
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
                    let outRow = output + (n * g.outH + oh - firstRow) * g.outW * g.outC
                    for b in 0..<blocks {
                        let valid = min(g.outC - b * 32, 32)
                        let mask = UInt32(truncatingIfNeeded: (1 << valid) - 1)
                        let t0 = table + 2 * b * AVX2Table.stride, t1 = t0 + AVX2Table.stride
                        let bias0 = loadM512(UnsafeRawPointer(t0)), bias1 = loadM512(UnsafeRawPointer(t1))
                        let r0 = row0 + (s0 == 0 ? 0 : b * 32), r1 = row1 + (s1 == 0 ? 0 : b * 32)
                        let r2 = row2 + (s2 == 0 ? 0 : b * 32)
                        let wc = UnsafeRawPointer(columnWeights + b * 3 * 128)
                        @inline(__always) func w(_ k: Int, _ i: Int) -> __m512i { loadM512(wc + (k * 4 + i) * 64) }
                        // Column c of the padded input (input column c - padLeft; `fill` in the
                        // padding): rows 0 and 1 interleaved (two vectors, the accumulators' lanes),
                        // row 2 interleaved with zeros (two more).
                        @inline(__always) func column(_ c: Int) -> (__m512i, __m512i, __m512i, __m512i) {
                            let iw = c &- g.padLeft
                            var a = fill16, e = fill16, f = fill16
                            if UInt(bitPattern: iw) < inW {
                                a = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, r0 + iw &* s0))
                                e = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, r1 + iw &* s1))
                                f = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, r2 + iw &* s2))
                            }
                            return (
                                _mm512_unpacklo_epi16(a, e), _mm512_unpackhi_epi16(a, e),
                                _mm512_unpacklo_epi16(f, zero), _mm512_unpackhi_epi16(f, zero)
                            )
                        }
                        @inline(__always) func madd(_ acc: __m512i, _ v: __m512i, _ k: Int, _ i: Int) -> __m512i {
                            _mm512_add_epi32(acc, _mm512_madd_epi16(v, w(k, i)))
                        }
                        let outBlock = outRow + b * 32
                        typealias Column = (__m512i, __m512i, __m512i, __m512i)
                        @inline(__always) func sums(_ c0: Column, _ c1: Column, _ c2: Column) -> (__m512i, __m512i) {
                            let acc0 = madd(madd(madd(madd(bias0, c0.0, 0, 0), c0.2, 0, 2), c1.0, 1, 0), c1.2, 1, 2)
                            let acc1 = madd(madd(madd(madd(bias1, c0.1, 0, 1), c0.3, 0, 3), c1.1, 1, 1), c1.3, 1, 3)
                            return (
                                _mm512_add_epi32(acc0, madd(_mm512_madd_epi16(c2.0, w(2, 0)), c2.2, 2, 2)),
                                _mm512_add_epi32(acc1, madd(_mm512_madd_epi16(c2.1, w(2, 1)), c2.3, 2, 3))
                            )
                        }
                        @inline(__always) func single(_ ow: Int, _ acc: (__m512i, __m512i)) {
                            let q0 = requantize16AVX512(acc.0, table: t0, o)
                            let q1 = requantize16AVX512(acc.1, table: t1, o)
                            // Dwords of q0 hold channels 0-3, 8-11, ..., of q1 4-7, 12-15, ...: interleaved back.
                            let out = outBlock + ow * g.outC
                            store16(flipped(_mm_unpacklo_epi32(q0, q1)), out, valid: min(valid, 16))
                            if valid > 16 { store16(flipped(_mm_unpackhi_epi32(q0, q1)), out + 16, valid: valid - 16) }
                        }
                        // Pixels ow and ow + 1 narrowed together (`narrowPairsAVX512`).
                        @inline(__always) func pair(_ ow: Int, _ p: (__m512i, __m512i), _ q: (__m512i, __m512i)) {
                            let (bp, bq) = narrowPairsAVX512(
                                o.multiply(p.0, table: t0), o.multiply(p.1, table: t1),
                                o.multiply(q.0, table: t0), o.multiply(q.1, table: t1), o, orderP: orderP,
                                orderQ: orderQ)
                            storePairAVX512(
                                flipped(bp), flipped(bq), outBlock + ow * g.outC, next: g.outC, valid: valid)
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
        let packed: [Int16]
        let table: [Int32]
        let rounding: AVX512Rounding
        let channelStride: Int
        /// Layers that slide columns read the input itself (`depthwiseColumnsAVX512`).
        var needsPaddedCopy: Bool {
            !slidesColumnsAVX512(p.geometry) && (p.geometry.hasPadding || p.geometry.inC != channelStride)
        }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            rounding = roundingAVX512(p)
            (packed, table) = packDepthwiseAVX512(p.geometry, p.weights, folded: p.folded, p.requant)
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

        /// `x` as `padded` returns it. `flip`: see `depthwiseConvAVX512`.
        func runPadded(
            _ x: UnsafePointer<Int8>, paddedH: Int, paddedW: Int, output: UnsafeMutablePointer<Int8>,
            rows: Range<Int>? = nil, flip: Bool = false
        ) {
            packed.withUnsafeBufferPointer { w in
                table.withUnsafeBufferPointer { t in
                    depthwiseConvAVX512(
                        x, paddedH: paddedH, paddedW: paddedW, channelStride: channelStride, p.geometry,
                        weights: w.baseAddress!, table: t.baseAddress!, requant: p.requant, rounding: rounding,
                        fill: Int8(truncatingIfNeeded: p.inputZeroPoint), output: output, rows: rows, flip: flip)
                }
            }
        }
    }
}
#endif
