// AVX2 paths of the int8 kernels, through the compiler's own clang intrinsics module (no package),
// compiled where the build defines FERCC_AVX2 (with -march=x86-64-v3 or newer). Same bits as the portable kernels.
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// Sign-extends int8 `x` to int16 into a copy padded with the zero point `fill`, with
    /// `channelStride` >= channels int16 per pixel (the extra ones hold `fill` too; their weights
    /// are zero).
    static func widenPaddedAVX2(
        _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride cs: Int, fill: Int16,
        _ y: UnsafeMutablePointer<Int16>
    ) {
        let ph = g.paddedH, pw = g.paddedW, c = g.inC
        if g.hasPadding || cs != c { fillPadding(y, g, channelStride: cs, fill: fill, wholePixels: cs == c) }
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
    /// instead of 9), and the window offset of each output pixel of a chunk of 48 (across rows and
    /// images), which stays in cache while every block of weights passes over it. Calls `body` per
    /// chunk with its pixel range, the run count, the runs' offsets and the pixels' offsets. 48 is
    /// a whole number of every tile width (4, 6, 8, 16), and the last chunk takes what a whole one
    /// would leave: chunks of 64 left 4 pixels in each (two recomputed by an overlapping tile), and
    /// a 14 x 14 map a last chunk of 4 (each pixel alone, at the latency of its vpdpbusd chain).
    @inline(__always)
    static func forEachPixelChunk(
        _ g: Conv2DGeometry, paddedH ph: Int, paddedW pw: Int, channels cs: Int,
        _ body: (
            _ start: Int, _ end: Int, _ runs: Int, _ tapOffsets: UnsafePointer<Int>, _ pixelOffsets: UnsafePointer<Int>
        ) -> Void
    ) {
        let rowRuns = g.dilationW == 1
        let runs = rowRuns ? g.kernelH : g.kernelH * g.kernelW
        let pixels = g.batch * g.outH * g.outW
        let chunk = 48
        withUnsafeTemporaryAllocation(of: Int.self, capacity: runs + 2 * chunk) { offsets in
            let tapOffsets = offsets.baseAddress!, pixelOffsets = offsets.baseAddress! + runs
            for kh in 0..<g.kernelH {
                if rowRuns {
                    tapOffsets[kh] = kh * g.dilationH * pw * cs
                } else {
                    for kw in 0..<g.kernelW {
                        tapOffsets[kh * g.kernelW + kw] = (kh * g.dilationH * pw + kw * g.dilationW) * cs
                    }
                }
            }
            // Each pixel's offset is the one before it plus a stride, recomputed at each row's start:
            // the checked multiplies per pixel were about a fifth of the VNNI kernel's time on
            // mini-Xception's 8- and 16-channel layers. Wrapping arithmetic: every offset lies
            // inside the padded input, whose size the lowering checked.
            let step = g.strideW &* cs
            var start = 0
            var n = 0, oh = 0, ow = 0  // of pixel `start`
            // The image and row as arguments: a local function that captured the `var`s read
            // them through a runtime exclusivity check each (swift_beginAccess, twice per row).
            @inline(__always) func rowStart(_ n: Int, _ oh: Int) -> Int { (n &* ph &+ oh &* g.strideH) &* pw &* cs }
            var offset = rowStart(n, oh)
            while start < pixels {
                // The last chunk takes what a whole one would leave (up to 2 * chunk - 1 pixels).
                let end = pixels - start < 2 * chunk ? pixels : start + chunk
                for i in 0..<(end &- start) {
                    pixelOffsets[i] = offset
                    ow &+= 1
                    if ow == g.outW {
                        ow = 0
                        oh &+= 1
                        if oh == g.outH { oh = 0; n &+= 1 }
                        offset = rowStart(n, oh)
                    } else {
                        offset &+= step
                    }
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
    static func denseConvAVX2(
        _ x: UnsafePointer<Int16>, paddedH ph: Int, paddedW pw: Int, _ g: Conv2DGeometry,
        weights: UnsafePointer<Int16>, blocks: Int, table: UnsafePointer<Int32>,
        _ o: AVX2Output, output: UnsafeMutablePointer<Int8>
    ) {
        let layout = DenseRunsAVX2(g)
        let blockStride = layout.runs * layout.pairs * 32
        let pairs = layout.pairs
        forEachPixelChunk(g, paddedH: ph, paddedW: pw, channels: layout.stride) {
            start, end, runs, tapOffsets, pixelOffsets in
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
                    requantizePairAVX2(
                        a0, bias1, a1, bias1, table: t, o, order: pairChannelOrder, out, next: g.outC, valid: valid)
                    requantizePairAVX2(
                        a2, bias1, a3, bias1, table: t, o, order: pairChannelOrder, out + 2 * g.outC, next: g.outC,
                        valid: valid)
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
                            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v0, w0));
                            a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v0, w1))
                            let v1 = broadcastPair(p1 + 2 * k)
                            a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(v1, w0));
                            a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(v1, w1))
                            let v2 = broadcastPair(p2 + 2 * k)
                            a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(v2, w0));
                            a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(v2, w1))
                            let v3 = broadcastPair(p3 + 2 * k)
                            a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(v3, w0));
                            a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(v3, w1))
                            w += 32
                        }
                    }
                    let out = output + p * g.outC + b * 16
                    requantizePairAVX2(
                        a00, a01, a10, a11, table: t, o, order: pairChannelOrder, out, next: g.outC, valid: valid)
                    requantizePairAVX2(
                        a20, a21, a30, a31, table: t, o, order: pairChannelOrder, out + 2 * g.outC, next: g.outC,
                        valid: valid)
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

    /// An int8 regular convolution on AVX2: `denseConvAVX2` over an int16, zero-point-padded copy
    /// of the input (`DenseRunsAVX2`), weights as [block][run][pair][16 outputs][2 elements].
    struct QuantizedDenseConvAVX2 {
        let p: QuantizedConvParameters
        let packed: [Int16]
        let table: [Int32]
        /// The requantization's vectors, built once (`AVX2Output`; folded where `foldedRoundingAVX2`).
        let requantizer: AVX2Output
        var geometry: Conv2DGeometry { p.geometry }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW
            requantizer = AVX2Output(
                p.requant,
                folded: foldedRoundingAVX2(p.requant, channels: g.outC, accumulatorBound: p.accumulatorBound))
            // [block][run][pair][16 outputs][2 elements], zero past a run's end or the last output.
            let layout = DenseRunsAVX2(g)
            var packed = [Int16](repeating: 0, count: p.blocks * layout.runs * layout.pairs * 32)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for ci in 0..<g.inC {
                        // Row runs: run kh, element kw * inC + ci; else run t, element ci.
                        let (run, e) = layout.rowRuns ? (t / g.kernelW, (t % g.kernelW) * g.inC + ci) : (t, ci)
                        packed[(((oc / 16) * layout.runs + run) * layout.pairs + e / 2) * 32 + (oc % 16) * 2 + e % 2] =
                            Int16(p.weights[(oc * taps + t) * g.inC + ci])
                    }
                }
            }
            self.packed = packed
            table = AVX2Table.make(
                blocks: p.blocks, channelOfLane: { $0 < g.outC ? $0 : nil }, bias: p.folded, p.requant)
        }

        var scratchBytes: Int {
            let g = p.geometry
            return DenseRunsAVX2(g).copyCount(pixels: g.batch * g.paddedH * g.paddedW) * 2
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
            let g = p.geometry
            let x = scratch.bindMemory(to: Int16.self, capacity: scratchBytes / 2)
            widenPaddedAVX2(input, g, channelStride: DenseRunsAVX2(g).stride, fill: Int16(p.inputZeroPoint), x)
            runPadded(x, paddedH: g.paddedH, paddedW: g.paddedW, g, output: output)
        }

        /// The convolution of an int16 copy already made (`g` may be a band of the layer's rows).
        func runPadded(
            _ x: UnsafePointer<Int16>, paddedH: Int, paddedW: Int, _ g: Conv2DGeometry,
            output: UnsafeMutablePointer<Int8>
        ) {
            packed.withUnsafeBufferPointer { w in
                table.withUnsafeBufferPointer { t in
                    denseConvAVX2(
                        x, paddedH: paddedH, paddedW: paddedW, g, weights: w.baseAddress!, blocks: p.blocks,
                        table: t.baseAddress!, requantizer, output: output)
                }
            }
        }
    }
}
#endif
