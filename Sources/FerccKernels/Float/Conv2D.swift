// fercc-kernel requires: Common/SIMD.swift Common/Geometry.swift Common/Activation.swift
// fercc-kernel requires(neon): Float/ARM64/Conv2D+NEON.swift

extension Kernels {
    /// How a convolution's tiles place output rows (`Conv2DKernel.tileOutput`): `outW` pixels
    /// apart, or `outputRowPitch` apart (the fused expansion's padded block rows).
    protocol OutputRows { static var pitched: Bool { get } }
    enum DenseRows: OutputRows { static var pitched: Bool { false } }
    enum PitchedRows: OutputRows { static var pitched: Bool { true } }

    /// Convolution of an NHWC tensor (regular and grouped; depthwise goes to DepthwiseConv2DKernel).
    /// Weights are packed once into blocks of 16 output channels laid out as [group][block][kh][kw][ci][16],
    /// and a register-blocked microkernel computes 6 output pixels x 16 channels at a time, then 4,
    /// then 1 for the row's tail. Six is what fits: swiftc emits SIMD16<Float> as two 256-bit
    /// registers even on AVX-512 hosts, and 6 x 2 accumulators + 2 weight registers + 1 broadcast
    /// fill the 16 ymm registers (8 pixels spilled to the stack: 21 vs 33 GMAC/s measured).
    public struct Conv2DKernel {
        public let geometry: Conv2DGeometry
        /// The weights in the kernel's layout (`pack`) and the bias (`outC` floats), read in place.
        let packed: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let blocksPerGroup: Int
        /// ReLU / clip applied to the accumulators before they are stored.
        let clamp: OutputClamp?
        /// Any other activation, applied to each output row once it is complete.
        let rowActivation: Activation?
        /// The tap loops: `columns` kernel columns of `rowTaps` contiguous floats each, the rows
        /// `rowStep` floats apart and the columns `columnStep`. Without dilation or groups a kernel
        /// row's taps (its columns' channels) are contiguous in the input, in the packed weights'
        /// order: one loop over them instead of two (the 7x7 stem over 3 channels, mini-Xception's
        /// first layer over 1).
        let columns: Int, rowTaps: Int, rowStep: Int, columnStep: Int
        /// Output pixels from one output row's start to the next one's in `output` (at least `outW`;
        /// more where the rows go into a wider, padded block: the fused expansion's). The x86 tiles
        /// place each pixel by it; AArch64's write dense rows, so there a pitched run goes row by row.
        let outputRowPitch: Int
        static let lanes = 16

        /// From weights in the packed layout (`pack`) and `outC` biases, both read in place (the
        /// memory must outlive the kernel): generated code points into its weights.
        @inline(never)
        public init(
            geometry g: Conv2DGeometry, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>,
            activation: Activation = .identity, outputRowPitch: Int? = nil
        ) {
            geometry = g
            self.outputRowPitch = max(g.outW, outputRowPitch ?? g.outW)
            blocksPerGroup = (g.outputChannelsPerGroup + Self.lanes - 1) / Self.lanes
            self.packed = packed
            self.bias = bias
            clamp = OutputClamp(activation)
            rowActivation = clamp == nil && activation != .identity ? activation : nil
            let contiguousRow = g.dilationW == 1 && g.groups == 1
            columns = contiguousRow ? 1 : g.kernelW
            rowTaps = contiguousRow ? g.kernelW * g.inputChannelsPerGroup : g.inputChannelsPerGroup
            rowStep = g.dilationH * g.paddedW * g.inC
            columnStep = g.dilationW * g.inC
        }

        /// Floats of scratch memory `run` needs (the padded input).
        public var scratchCount: Int { geometry.paddedInputCount }

        /// `run` with the kernel's clamp as a type argument (`NoClamp` when it has none).
        public func run<C: VectorClamp>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
            clamp: C
        ) {
            let g = geometry
            place(zeroPadded(input, g, scratch: scratch), output, clamp, pixels: 0..<(g.outH * g.outW), batch: g.batch)
        }

        /// Output `pixels` (numbered across rows) of an unpadded convolution's first image, written
        /// `outputRowPitch` pixels apart between rows: the fused expansion's rows of one band.
        public func run<C: VectorClamp>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pixels: Range<Int>, clamp: C
        ) {
            place(input, output, clamp, pixels: pixels, batch: 1)
        }

        /// `compute` with the rows' placement as its type argument: dense rows, or rows
        /// `outputRowPitch` apart, which AArch64's tiles (dense only) get one row per call, from
        /// the row's start moved back by the padding of the rows before it.
        private func place<C: VectorClamp>(
            _ src: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ clamp: C, pixels: Range<Int>,
            batch: Int
        ) {
            let g = geometry
            if outputRowPitch == g.outW {
                compute(src, output, clamp, DenseRows.self, pixels: pixels, batch: batch)
                return
            }
            #if arch(arm64)
            for n in 0..<batch {
                let image = src + n * g.paddedH * g.paddedW * g.inC
                let outImage = output + n * g.outH * outputRowPitch * g.outC
                var q = pixels.lowerBound
                while q < pixels.upperBound {
                    let c = PixelCursor(q, outW: g.outW)
                    let run = min(pixels.upperBound - q, g.outW - c.ow)
                    compute(
                        image, outImage + c.oh * (outputRowPitch - g.outW) * g.outC, clamp, DenseRows.self,
                        pixels: q..<(q + run), batch: 1)
                    q += run
                }
            }
            #else
            compute(src, output, clamp, PitchedRows.self, pixels: pixels, batch: batch)
            #endif
        }

        /// Output pixels computed together: every output channel block runs over one chunk of pixels
        /// before the next chunk starts, so a block's weights are read from cache once per 6-pixel
        /// tile of the chunk and stream from memory once per chunk. Pixels are numbered across rows
        /// (a tile may span the end of a row and the start of the next), so only the image's last
        /// pixels fall into the narrower tiles: a 7x7 map runs 8 six-pixel tiles and one single pixel
        /// instead of 7 of each. A multiple of 6 covering about `chunkBytes` of input rows.
        var chunkPixels: Int {
            let g = geometry
            let pixels = g.outH * g.outW
            let rowBytes = max(1, g.strideH * g.paddedW * g.inC * 4)
            let rows = max(1, Self.chunkBytes / rowBytes)
            let wanted = (rows * g.outW + 5) / 6 * 6
            return max(6, min(wanted, (pixels + 5) / 6 * 6))
        }
        static let chunkBytes = 96 * 1024

        /// The convolution of the padded input `src`, specialized for each kind of clamp. Each output
        /// pixel is summed in the same order (bias, then kernel rows, columns and input channels) in
        /// every tile width, so a pixel's value does not depend on the tile it fell in: the fused
        /// kernels, which run this over bands of rows, give the unfused kernels' bits.
        private func compute<C: VectorClamp, R: OutputRows>(
            _ src: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ clamp: C, _ rows: R.Type,
            pixels range: Range<Int>, batch: Int
        ) {
            let g = geometry
            let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
            let blockFloats = g.kernelH * g.kernelW * cig * Self.lanes
            for n in 0..<batch {
                let image = src + n * g.paddedH * g.paddedW * g.inC
                let outImage = output + n * g.outH * (R.pitched ? outputRowPitch : g.outW) * g.outC
                var start = range.lowerBound
                while start < range.upperBound {
                    let end = min(range.upperBound, start + chunkPixels)
                    #if FERCC_AVX512
                    // A last pixel left alone by the pair blocks' six-pixel tiles waits for `lonePixel`.
                    let lone = (end &- start) % 6 == 1
                    let tileEnd = lone ? end &- 1 : end
                    #endif
                    for grp in 0..<g.groups {
                        var blk = 0
                        while blk < blocksPerGroup {
                            let co0 = blk * Self.lanes
                            let w = packed + (grp * blocksPerGroup + blk) * blockFloats, b = bias + grp * cog + co0
                            let groupImage = image + grp * cig, out = outImage + grp * cog + co0
                            let blockClamp = clamp.block(grp &* cog &+ co0)
                            #if FERCC_AVX512
                            if cog - co0 >= 2 * Self.lanes {
                                let first = pairTiles(
                                    pixels: start..<tileEnd, weights: w, blockFloats: blockFloats, bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                                blockTiles(
                                    FloatVector.self, pixels: first..<tileEnd, overlapFrom: start, valid: Self.lanes,
                                    weights: w, bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                                blockTiles(
                                    FloatVector.self, pixels: first..<tileEnd, overlapFrom: start, valid: Self.lanes,
                                    weights: w + blockFloats,
                                    bias: b + Self.lanes,
                                    image: groupImage, out: out + Self.lanes, blockClamp.block(Self.lanes), rows)
                                blk += 2
                                continue
                            }
                            #endif
                            let valid = min(Self.lanes, cog - co0)
                            #if FERCC_AVX512
                            if valid <= 8 && cig == 1 && columns == 1 && g.strideW == 1 {
                                pixelPairTiles(
                                    pixels: start..<end, overlapFrom: start, valid: valid, weights: w, bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                                blk += 1
                                continue
                            }
                            if valid <= 8 && rowTaps >= 2 {
                                tapPairTiles(
                                    pixels: start..<end, overlapFrom: start, valid: valid, weights: w, bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                                blk += 1
                                continue
                            }
                            #endif
                            if valid <= 8 {
                                // Blocks of at most 8 channels (8-channel layers, the last 8 of 24): 8-lane vectors.
                                blockTiles(
                                    Lanes8.self, pixels: start..<end, overlapFrom: start, valid: valid, weights: w,
                                    bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                            } else {
                                blockTiles(
                                    FloatVector.self, pixels: start..<end, overlapFrom: start, valid: valid,
                                    weights: w, bias: b,
                                    image: groupImage, out: out, blockClamp, rows)
                            }
                            blk += 1
                        }
                        #if FERCC_AVX512
                        let pairBlocks = cog / (2 * Self.lanes) * 2
                        if lone && pairBlocks > 0 {
                            lonePixel(
                                end &- 1, blocks: pairBlocks, weights: packed + grp * blocksPerGroup * blockFloats,
                                blockFloats: blockFloats, bias: bias + grp * cog, image: image + grp * cig,
                                out: outImage + grp * cog, clamp.block(grp &* cog), rows)
                        }
                        #endif
                    }
                    if let a = rowActivation {
                        // Each output row's part of the chunk (one run when rows are dense).
                        var q = start
                        while q < end {
                            let c = PixelCursor(q, outW: g.outW)
                            let run = R.pitched ? min(end - q, g.outW - c.ow) : end - q
                            let o = outImage + (R.pitched ? c.oh * outputRowPitch + c.ow : q) * g.outC
                            a.run(o, o, count: run * g.outC)
                            q += run
                        }
                    }
                    start = end
                }
            }
        }

        /// Where output pixel `p`'s window starts in `image`, the padded input from the group's
        /// first channel. Index arithmetic wraps (&+, &*) instead of trapping, here and in the tiles:
        /// the lowering checked that every tensor's byte size fits an Int, and the overflow checks
        /// were a third of the tiles' code.
        @inline(__always)
        func window(_ image: UnsafePointer<Float>, _ p: Int) -> UnsafePointer<Float> {
            let c = PixelCursor(p, outW: geometry.outW)
            return window(image, oh: c.oh, ow: c.ow)
        }

        /// Where the window of the output pixel at row `oh`, column `ow` starts in `image`.
        @inline(__always)
        func window(_ image: UnsafePointer<Float>, oh: Int, ow: Int) -> UnsafePointer<Float> {
            let g = geometry
            return image + (oh &* g.strideH &* g.paddedW &+ ow &* g.strideW) &* g.inC
        }

        /// An output pixel's row and column, stepped one pixel at a time (`next`): the x86 tiles'
        /// windows without an integer division per pixel (in 1x1 layers over 16 channels the
        /// divisions took about a tenth of the time). Its one division, unsigned (pixels and widths
        /// are not negative), is also `window(_:_:)`'s and the arm64 tiles'.
        struct PixelCursor {
            var oh: Int, ow: Int
            @inline(__always) init(_ p: Int, outW: Int) {
                oh = Int(bitPattern: UInt(bitPattern: p) / UInt(bitPattern: outW))
                ow = p &- oh &* outW
            }
        }

        /// `window` of the cursor's pixel, then the cursor moved to the next pixel.
        @inline(__always)
        func next(_ image: UnsafePointer<Float>, _ c: inout PixelCursor) -> UnsafePointer<Float> {
            let x = window(image, oh: c.oh, ow: c.ow)
            c.ow &+= 1
            if c.ow == geometry.outW {
                c.ow = 0
                c.oh &+= 1
            }
            return x
        }

        /// Where the `k`th pixel of a tile is written: the tile's first pixel is `p`, at row
        /// `c.oh`, column `c.ow`; `out` is pixel 0's block. Dense rows are `outC` floats per pixel;
        /// rows `outputRowPitch` apart are found by stepping the row, as a tile may span several
        /// rows. Which one is the tiles' type argument, so dense rows cost nothing more.
        @inline(__always)
        func tileOutput<R: OutputRows>(
            _: R.Type, _ out: UnsafeMutablePointer<Float>, _ p: Int, _ c: PixelCursor, _ k: Int
        ) -> UnsafeMutablePointer<Float> {
            let outW = geometry.outW
            if !R.pitched { return out + (p &+ k) &* geometry.outC }
            var oh = c.oh, ow = c.ow &+ k
            while ow >= outW {
                ow &-= outW
                oh &+= 1
            }
            return out + (oh &* outputRowPitch &+ ow) &* geometry.outC
        }

        #if FERCC_AVX512
        /// Two full blocks (32 channels; the second's weights `blockFloats` after the first's) over
        /// six-pixel tiles of `pixels`, where the target has 32 vector registers: 12 accumulators, and
        /// each broadcast input feeds two multiply-adds (6 x 16 left the 512-bit FMA units waiting on
        /// their latency: 85 GMAC/s on 3x3 layers). Returns the first pixel left for `blockTiles`.
        @inline(__always)
        func pairTiles<C: VectorClamp, R: OutputRows>(
            pixels: Range<Int>, weights: UnsafePointer<Float>, blockFloats: Int, bias b: UnsafePointer<Float>,
            image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, _ clamp: C, _: R.Type
        ) -> Int {
            let l = Self.lanes
            let biasA = FloatVector.load(b), biasB = FloatVector.load(b + l)
            let second = clamp.block(l)
            var p = pixels.lowerBound
            var cursor = PixelCursor(p, outW: geometry.outW)
            while p &+ 6 <= pixels.upperBound {
                let at = cursor
                let x0 = next(image, &cursor), x1 = next(image, &cursor), x2 = next(image, &cursor)
                let x3 = next(image, &cursor), x4 = next(image, &cursor), x5 = next(image, &cursor)
                var a0 = biasA, a1 = biasA, a2 = biasA, a3 = biasA, a4 = biasA, a5 = biasA
                var c0 = biasB, c1 = biasB, c2 = biasB, c3 = biasB, c4 = biasB, c5 = biasB
                var wp = weights, wq = weights + blockFloats
                for kh in 0..<geometry.kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                        for ci in 0..<rowTaps {
                            let wv = FloatVector.load(wp), wu = FloatVector.load(wq)
                            wp += l
                            wq += l
                            let v0 = FloatVector.splat(y0[ci])
                            a0 = a0.adding(v0, times: wv)
                            c0 = c0.adding(v0, times: wu)
                            let v1 = FloatVector.splat(y1[ci])
                            a1 = a1.adding(v1, times: wv)
                            c1 = c1.adding(v1, times: wu)
                            let v2 = FloatVector.splat(y2[ci])
                            a2 = a2.adding(v2, times: wv)
                            c2 = c2.adding(v2, times: wu)
                            let v3 = FloatVector.splat(y3[ci])
                            a3 = a3.adding(v3, times: wv)
                            c3 = c3.adding(v3, times: wu)
                            let v4 = FloatVector.splat(y4[ci])
                            a4 = a4.adding(v4, times: wv)
                            c4 = c4.adding(v4, times: wu)
                            let v5 = FloatVector.splat(y5[ci])
                            a5 = a5.adding(v5, times: wv)
                            c5 = c5.adding(v5, times: wu)
                        }
                    }
                }
                // The tile's `k`th pixel: its two blocks, clamped.
                @inline(__always) func store(_ k: Int, _ a: FloatVector, _ c: FloatVector) {
                    let o = tileOutput(R.self, out, p, at, k)
                    clamp.store(a, o, pixel: p &+ k, count: l)
                    second.store(c, o + l, pixel: p &+ k, count: l)
                }
                store(0, a0, c0)
                store(1, a1, c1)
                store(2, a2, c2)
                store(3, a3, c3)
                store(4, a4, c4)
                store(5, a5, c5)
                p &+= 6
            }
            return p
        }

        /// Pixel `p`, left alone by the pair blocks' six-pixel tiles (a 7x7 map's 49th), for the
        /// first `blocks` full blocks (an even count) of a group, whose weights, bias, input and
        /// output start at `weights`, `bias`, `image` and `out`. Four blocks at a time share the
        /// pixel's broadcasts in four independent chains of multiply-adds: one block's pixel alone
        /// is one chain, which waits on the FMA latency at a quarter of the units' rate
        /// (MobileNetV2: 300 such block pixels per inference, 92,800 multiply-adds in a chain).
        /// Each chain sums in the tiles' order (bias, kernel rows, columns, input channels), so the
        /// pixel gets the bits a tile would give it.
        @inline(__always)
        func lonePixel<C: VectorClamp, R: OutputRows>(
            _ p: Int, blocks: Int, weights: UnsafePointer<Float>, blockFloats: Int, bias: UnsafePointer<Float>,
            image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, _ clamp: C, _: R.Type
        ) {
            let l = Self.lanes
            let at = PixelCursor(p, outW: geometry.outW)
            let x = window(image, oh: at.oh, ow: at.ow)
            let o = tileOutput(R.self, out, p, at, 0)
            var blk = 0
            while blk < blocks {
                // Four blocks, or the last two.
                let four = blk &+ 4 <= blocks
                let w0 = weights + blk &* blockFloats, w1 = w0 + blockFloats
                let w2 = four ? w1 + blockFloats : w0, w3 = four ? w2 + blockFloats : w1
                let b0 = bias + blk &* l
                var a0 = FloatVector.load(b0), a1 = FloatVector.load(b0 + l)
                var a2 = four ? FloatVector.load(b0 + 2 &* l) : a0, a3 = four ? FloatVector.load(b0 + 3 &* l) : a1
                var k = 0
                for kh in 0..<geometry.kernelH {
                    for kw in 0..<columns {
                        let y = x + (kh &* rowStep &+ kw &* columnStep)
                        if four {
                            for ci in 0..<rowTaps {
                                let v = FloatVector.splat(y[ci])
                                a0 = a0.adding(v, times: FloatVector.load(w0 + k))
                                a1 = a1.adding(v, times: FloatVector.load(w1 + k))
                                a2 = a2.adding(v, times: FloatVector.load(w2 + k))
                                a3 = a3.adding(v, times: FloatVector.load(w3 + k))
                                k &+= l
                            }
                        } else {
                            for ci in 0..<rowTaps {
                                let v = FloatVector.splat(y[ci])
                                a0 = a0.adding(v, times: FloatVector.load(w0 + k))
                                a1 = a1.adding(v, times: FloatVector.load(w1 + k))
                                k &+= l
                            }
                        }
                    }
                }
                let c = blk &* l
                clamp.block(c).store(a0, o + c, pixel: p, count: l)
                clamp.block(c &+ l).store(a1, o + (c &+ l), pixel: p, count: l)
                if four {
                    clamp.block(c &+ 2 &* l).store(a2, o + (c &+ 2 &* l), pixel: p, count: l)
                    clamp.block(c &+ 3 &* l).store(a3, o + (c &+ 3 &* l), pixel: p, count: l)
                }
                blk &+= four ? 4 : 2
            }
        }

        /// `a`'s lane j in lane 2j and `c`'s lane j in lane 2j + 1, for j < 8.
        @inline(__always)
        static func zip8(_ a: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(a[0], c[0], a[1], c[1], a[2], c[2], a[3], c[3], a[4], c[4], a[5], c[5], a[6], c[6], a[7], c[7])
        }

        /// The two floats at `x` in every pair of lanes (one 64-bit broadcast).
        @inline(__always)
        static func pairBroadcast(_ x: UnsafePointer<Float>) -> SIMD16<Float> {
            unsafeBitCast(
                SIMD8<UInt64>(repeating: UnsafeRawPointer(x).loadUnaligned(as: UInt64.self)), to: SIMD16<Float>.self)
        }

        /// `v`'s first 8 lanes (pixel `pixels.0`'s channels, their first `count`) through `clamp`
        /// at `first`, its last 8 (pixel `pixels.1`'s) at `second`.
        @inline(__always)
        static func storeHalves<C: VectorClamp>(
            _ v: FloatVector, _ clamp: C, _ first: UnsafeMutablePointer<Float>, _ second: UnsafeMutablePointer<Float>,
            pixels: (Int, Int), count: Int
        ) {
            clamp.store(Lanes8(v.v.lowHalf), first, pixel: pixels.0, count: count)
            clamp.store(Lanes8(v.v.highHalf), second, pixel: pixels.1, count: count)
        }

        /// The packed 8-channel block `w` (16-lane rows of taps, lanes 8-15 zero), `runs` runs of
        /// `taps` taps, as 16-lane weight vectors on the stack, for `body`: with `tapPairs`, taps t
        /// and t + 1 of a run zipped, and a run's odd last tap zipped with zeros; otherwise each tap
        /// zipped with itself. Zipped in the tile loops, the two loads and the shuffle became
        /// gathers (the layer took 1.5x its old time); zipped once per call, they are loads there.
        @inline(__always)
        static func withZippedWeights(
            _ w: UnsafePointer<Float>, runs: Int, taps: Int, tapPairs: Bool,
            _ body: (UnsafePointer<SIMD16<Float>>) -> Void
        ) {
            let perRun = tapPairs ? (taps &+ 1) / 2 : taps
            withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: runs &* perRun) { zipped in
                var slot = w, i = 0
                for _ in 0..<runs {
                    var t = 0
                    while t < taps {
                        let a = FloatVector.load(slot).v
                        let pair = tapPairs && t &+ 1 < taps
                        zipped[i] = zip8(a, pair ? FloatVector.load(slot + lanes).v : tapPairs ? SIMD16() : a)
                        i &+= 1
                        t &+= pair ? 2 : 1
                        slot += pair ? 2 &* lanes : lanes
                    }
                }
                body(UnsafePointer(zipped.baseAddress!))
            }
        }

        /// A block of at most 8 output channels (`valid`) over one input channel at stride 1, rows
        /// of an even width (the 1 -> 8 stems of mini-Xception nets: 8-lane tiles ran them at a
        /// quarter of the rate of the layers after them). Output pixels q and q + 1 of a row read
        /// windows one float apart, so one 64-bit broadcast of two input floats feeds both: a pair's
        /// accumulator holds q's channel j in lane 2j and q + 1's in lane 2j + 1, against each tap's
        /// weights duplicated. Each lane sums as the 8-lane tiles do (bias, then the taps in order),
        /// so the pixels left to those (ranges under 24 pixels or of an odd start) get the same bits.
        @inline(__always)
        func pixelPairTiles<C: VectorClamp, R: OutputRows>(
            pixels: Range<Int>, overlapFrom: Int, valid: Int, weights w: UnsafePointer<Float>,
            bias b: UnsafePointer<Float>, image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
            _ clamp: C, _: R.Type
        ) {
            typealias V = SIMD16<Float>
            var p = pixels.lowerBound
            let end = pixels.upperBound
            // Pairs start on even pixels, which are never a row's last (rows of an even width).
            if (p | end | overlapFrom) & 1 == 0 && geometry.outW & 1 == 0 && end &- overlapFrom >= 24 {
                let b16 = FloatVector.load(b, count: valid).v
                let bias = Self.zip8(b16, b16)
                let kernelH = geometry.kernelH
                Self.withZippedWeights(w, runs: kernelH, taps: rowTaps, tapPairs: false) { zipped in
                    var cursor = PixelCursor(p, outW: geometry.outW)
                    @inline(__always) func window() -> UnsafePointer<Float> {
                        let x = next(image, &cursor)
                        _ = next(image, &cursor)
                        return x
                    }
                    @inline(__always) func overlapLast() {
                        if p < end && p &+ 24 > end {
                            p = end &- 24
                            cursor = PixelCursor(p, outW: geometry.outW)
                        }
                    }
                    overlapLast()
                    while p &+ 24 <= end {
                        let at = cursor
                        let x0 = window(), x1 = window(), x2 = window(), x3 = window(), x4 = window(), x5 = window()
                        let x6 = window(), x7 = window(), x8 = window(), x9 = window(), x10 = window(), x11 = window()
                        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias
                        var a6 = bias, a7 = bias, a8 = bias, a9 = bias, a10 = bias, a11 = bias
                        var wp = zipped
                        for kh in 0..<kernelH {
                            let off = kh &* rowStep
                            for ci in off..<(off &+ rowTaps) {
                                let wv = wp.pointee
                                wp += 1
                                a0 = a0.addingProduct(Self.pairBroadcast(x0 + ci), wv)
                                a1 = a1.addingProduct(Self.pairBroadcast(x1 + ci), wv)
                                a2 = a2.addingProduct(Self.pairBroadcast(x2 + ci), wv)
                                a3 = a3.addingProduct(Self.pairBroadcast(x3 + ci), wv)
                                a4 = a4.addingProduct(Self.pairBroadcast(x4 + ci), wv)
                                a5 = a5.addingProduct(Self.pairBroadcast(x5 + ci), wv)
                                a6 = a6.addingProduct(Self.pairBroadcast(x6 + ci), wv)
                                a7 = a7.addingProduct(Self.pairBroadcast(x7 + ci), wv)
                                a8 = a8.addingProduct(Self.pairBroadcast(x8 + ci), wv)
                                a9 = a9.addingProduct(Self.pairBroadcast(x9 + ci), wv)
                                a10 = a10.addingProduct(Self.pairBroadcast(x10 + ci), wv)
                                a11 = a11.addingProduct(Self.pairBroadcast(x11 + ci), wv)
                            }
                        }
                        // Pair k's accumulator: pixel 2k's channels, then 2k + 1's.
                        @inline(__always) func place(_ k: Int, _ a: V) {
                            let v = V(
                                a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14],
                                a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15])
                            Self.storeHalves(
                                FloatVector(v), clamp, tileOutput(R.self, out, p, at, 2 &* k),
                                tileOutput(R.self, out, p, at, 2 &* k &+ 1), pixels: (p &+ 2 &* k, p &+ 2 &* k &+ 1),
                                count: valid)
                        }
                        place(0, a0)
                        place(1, a1)
                        place(2, a2)
                        place(3, a3)
                        place(4, a4)
                        place(5, a5)
                        place(6, a6)
                        place(7, a7)
                        place(8, a8)
                        place(9, a9)
                        place(10, a10)
                        place(11, a11)
                        p &+= 24
                        overlapLast()
                    }
                }
            }
            if p < end {
                blockTiles(
                    Lanes8.self, pixels: p..<end, overlapFrom: overlapFrom, valid: valid, weights: w, bias: b,
                    image: image, out: out, clamp, R.self)
            }
        }

        /// A block of at most 8 output channels (`valid`) over `pixels`, each run of `rowTaps`
        /// contiguous taps at least 2 long (8-channel layers over 8 channels and more: the trained
        /// mini-Xception's 8 -> 8 stem convolution; the last 8 of a 24-channel stem over 3, as in
        /// BlazeFace and ShuffleNetV2): 8-lane tiles used half of each FMA, and this fills all 16
        /// lanes with 8 channels x 2 taps. A pixel's accumulator holds channel j's even taps in
        /// lane 2j and its odd ones in lane 2j + 1: a tap pair is adjacent in the input (one 64-bit
        /// broadcast); a run of an odd count ends on one tap in the even lanes. At the end the
        /// lanes fold: output = (bias + even taps) + odd taps, for two pixels at once. Every pixel is summed so in every tile (12 pixels;
        /// the last 12 of the range again over what the tile before wrote, as in `blockTiles`;
        /// pairs of pixels for ranges under 12), so a pixel's bits do not depend on its tile.
        @inline(__always)
        func tapPairTiles<C: VectorClamp, R: OutputRows>(
            pixels: Range<Int>, overlapFrom: Int, valid: Int, weights w: UnsafePointer<Float>,
            bias b: UnsafePointer<Float>, image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
            _ clamp: C, _: R.Type
        ) {
            typealias V = SIMD16<Float>
            // Two pixels' accumulators folded into their outputs: pixel a's 8 channels, then c's.
            @inline(__always) func fold(_ a: V, _ c: V) -> FloatVector {
                let even = V(
                    a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14], c[0], c[2], c[4], c[6], c[8], c[10], c[12], c[14]
                )
                let odd = V(
                    a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15], c[1], c[3], c[5], c[7], c[9], c[11], c[13], c[15]
                )
                return FloatVector(even + odd)
            }
            // Pixels `pixels.0` and `pixels.1`, folded into `v`, through the clamp.
            @inline(__always) func store(
                _ v: FloatVector, _ first: UnsafeMutablePointer<Float>, _ second: UnsafeMutablePointer<Float>,
                _ pixels: (Int, Int)
            ) {
                Self.storeHalves(v, clamp, first, second, pixels: pixels, count: valid)
            }
            @inline(__always) func taps(_ x: UnsafePointer<Float>) -> V { Self.pairBroadcast(x) }
            // A run's odd last tap: in the even lanes only (its weights' odd lanes are zero, and
            // 0 x infinity would be NaN).
            let oddLanes = SIMD16<Int32>(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1) .== 1
            @inline(__always) func tap(_ x: UnsafePointer<Float>) -> V {
                V(repeating: x.pointee).replacing(with: 0, where: oddLanes)
            }
            let bias = Self.zip8(FloatVector.load(b, count: valid).v, V())
            let kernelH = geometry.kernelH
            Self.withZippedWeights(w, runs: kernelH &* columns, taps: rowTaps, tapPairs: true) { tiles($0) }
            @inline(__always) func tiles(_ zipped: UnsafePointer<V>) {
                var p = pixels.lowerBound
                let end = pixels.upperBound
                var cursor = PixelCursor(p, outW: geometry.outW)
                @inline(__always) func overlapLast() {
                    if p < end && p &+ 12 > end && end &- overlapFrom >= 12 {
                        p = end &- 12
                        cursor = PixelCursor(p, outW: geometry.outW)
                    }
                }
                overlapLast()
                while p &+ 12 <= end {
                    let at = cursor
                    let x0 = next(image, &cursor), x1 = next(image, &cursor), x2 = next(image, &cursor)
                    let x3 = next(image, &cursor), x4 = next(image, &cursor), x5 = next(image, &cursor)
                    let x6 = next(image, &cursor), x7 = next(image, &cursor), x8 = next(image, &cursor)
                    let x9 = next(image, &cursor), x10 = next(image, &cursor), x11 = next(image, &cursor)
                    var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias
                    var a6 = bias, a7 = bias, a8 = bias, a9 = bias, a10 = bias, a11 = bias
                    var wp = zipped
                    for kh in 0..<kernelH {
                        for kw in 0..<columns {
                            let off = kh &* rowStep &+ kw &* columnStep
                            var ci = off
                            let runEnd = off &+ rowTaps
                            while ci &+ 1 < runEnd {
                                let wv = wp.pointee
                                wp += 1
                                a0 = a0.addingProduct(taps(x0 + ci), wv)
                                a1 = a1.addingProduct(taps(x1 + ci), wv)
                                a2 = a2.addingProduct(taps(x2 + ci), wv)
                                a3 = a3.addingProduct(taps(x3 + ci), wv)
                                a4 = a4.addingProduct(taps(x4 + ci), wv)
                                a5 = a5.addingProduct(taps(x5 + ci), wv)
                                a6 = a6.addingProduct(taps(x6 + ci), wv)
                                a7 = a7.addingProduct(taps(x7 + ci), wv)
                                a8 = a8.addingProduct(taps(x8 + ci), wv)
                                a9 = a9.addingProduct(taps(x9 + ci), wv)
                                a10 = a10.addingProduct(taps(x10 + ci), wv)
                                a11 = a11.addingProduct(taps(x11 + ci), wv)
                                ci &+= 2
                            }
                            if ci < runEnd {
                                // The run's odd last tap. (A local function taking `taps` or `tap`
                                // for both loops sent the accumulators to the stack: 1.56x.)
                                let wv = wp.pointee
                                wp += 1
                                a0 = a0.addingProduct(tap(x0 + ci), wv)
                                a1 = a1.addingProduct(tap(x1 + ci), wv)
                                a2 = a2.addingProduct(tap(x2 + ci), wv)
                                a3 = a3.addingProduct(tap(x3 + ci), wv)
                                a4 = a4.addingProduct(tap(x4 + ci), wv)
                                a5 = a5.addingProduct(tap(x5 + ci), wv)
                                a6 = a6.addingProduct(tap(x6 + ci), wv)
                                a7 = a7.addingProduct(tap(x7 + ci), wv)
                                a8 = a8.addingProduct(tap(x8 + ci), wv)
                                a9 = a9.addingProduct(tap(x9 + ci), wv)
                                a10 = a10.addingProduct(tap(x10 + ci), wv)
                                a11 = a11.addingProduct(tap(x11 + ci), wv)
                            }
                        }
                    }
                    @inline(__always) func place(_ k: Int, _ a: V, _ c: V) {
                        store(
                            fold(a, c), tileOutput(R.self, out, p, at, k), tileOutput(R.self, out, p, at, k &+ 1),
                            (p &+ k, p &+ k &+ 1))
                    }
                    place(0, a0, a1)
                    place(2, a2, a3)
                    place(4, a4, a5)
                    place(6, a6, a7)
                    place(8, a8, a9)
                    place(10, a10, a11)
                    p &+= 12
                    overlapLast()
                }
                // Ranges under 12 pixels: two at a time, the last one twice when one is left.
                while p < end {
                    let q = min(p &+ 1, end &- 1)
                    let x0 = window(image, p), x1 = window(image, q)
                    var a0 = bias, a1 = bias
                    var wp = zipped
                    for kh in 0..<kernelH {
                        for kw in 0..<columns {
                            let off = kh &* rowStep &+ kw &* columnStep
                            var ci = off
                            let runEnd = off &+ rowTaps
                            while ci &+ 1 < runEnd {
                                let wv = wp.pointee
                                wp += 1
                                a0 = a0.addingProduct(taps(x0 + ci), wv)
                                a1 = a1.addingProduct(taps(x1 + ci), wv)
                                ci &+= 2
                            }
                            if ci < runEnd {
                                let wv = wp.pointee
                                wp += 1
                                a0 = a0.addingProduct(tap(x0 + ci), wv)
                                a1 = a1.addingProduct(tap(x1 + ci), wv)
                            }
                        }
                    }
                    let c0 = PixelCursor(p, outW: geometry.outW), c1 = PixelCursor(q, outW: geometry.outW)
                    store(fold(a0, a1), tileOutput(R.self, out, p, c0, 0), tileOutput(R.self, out, q, c1, 0), (p, q))
                    p &+= 2
                }
            }
        }
        #endif

        /// One block of `valid` output channels (weights at `w`, bias at `b`) over output `pixels` of
        /// one image, written from `out` (the block's first channel of pixel 0): tiles of 8 pixels
        /// (8-lane vectors) or 6 (16-lane), then 4, then single pixels. A pixel is summed in the same order
        /// (bias, then kernel rows, columns and input channels) in every tile width, so its value
        /// does not depend on the tile it fell in: the fused kernels, which run this over bands of
        /// rows, give the unfused kernels' bits.
        @inline(__always)
        func blockTiles<V: FloatLanes, C: VectorClamp, R: OutputRows>(
            _: V.Type, pixels: Range<Int>, overlapFrom: Int, valid: Int, weights w: UnsafePointer<Float>,
            bias b: UnsafePointer<Float>, image: UnsafePointer<Float>,
            out: UnsafeMutablePointer<Float>, _ clamp: C, _: R.Type
        ) {
            #if arch(arm64)
            // AArch64 has its own tiles for every pixel (Float/ARM64/Conv2D+NEON.swift).
            Kernels.laneTiles(
                self, pixels: pixels, valid: valid, weights: w, bias: b, image: image, out: out, clamp)
            #else
            let kernelH = geometry.kernelH
            let bias = V.load(b, count: valid)
            var p = pixels.lowerBound
            let end = pixels.upperBound
            var cursor = PixelCursor(p, outW: geometry.outW)
            @inline(__always) func window() -> UnsafePointer<Float> { next(image, &cursor) }
            // A tile's `k`th pixel (the tile starts at pixel `p`, window `at`): its output slot and
            // the pixel its clamp sees (a residual's) come from the one `k`.
            @inline(__always) func put(_ a: V, _ at: PixelCursor, _ k: Int) {
                clamp.store(a, tileOutput(R.self, out, p, at, k), pixel: p &+ k, count: valid)
            }
            // The last few pixels, when a full tile is cheaper than the narrow ones: the full tile
            // ends at `end`, recomputing pixels it shares with the one before (a pixel's sum does
            // not depend on its tile, so they get the same bits), at most back to `overlapFrom`.
            // A single 16-lane pixel runs its 2 accumulators' multiply-adds at a quarter of the
            // FMA units' rate (their latency), an 8-lane one at an eighth: in 1x1 layers over rows
            // of 14 or 56 pixels the two left by 6-pixel tiles took as long as 8 full-tile pixels.
            @inline(__always) func overlapLast(tile: Int) {
                let rest = end &- p
                let cheaper = tile == 8 ? rest > 0 : rest == 2 || rest == 3 || rest == 5
                if cheaper && end &- overlapFrom >= tile {
                    p = end &- tile
                    cursor = PixelCursor(p, outW: geometry.outW)
                }
            }
            // 8-lane vectors hold 8 pixels' accumulators in the registers 16-lane ones need for 6
            // (stems of 8 channels: 8-pixel tiles measured 9% fewer instructions than 6 + 4 + 1).
            if V.lanes == 8 && p &+ 8 > end { overlapLast(tile: 8) }
            while V.lanes == 8 && p &+ 8 <= end {
                let at = cursor
                let x0 = window(), x1 = window(), x2 = window(), x3 = window()
                let x4 = window(), x5 = window(), x6 = window(), x7 = window()
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
                var wp = w
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off,
                            y6 = x6 + off, y7 = x7 + off
                        for ci in 0..<rowTaps {
                            let wv = V.load(wp)
                            wp += Self.lanes
                            a0 = a0.adding(.splat(y0[ci]), times: wv)
                            a1 = a1.adding(.splat(y1[ci]), times: wv)
                            a2 = a2.adding(.splat(y2[ci]), times: wv)
                            a3 = a3.adding(.splat(y3[ci]), times: wv)
                            a4 = a4.adding(.splat(y4[ci]), times: wv)
                            a5 = a5.adding(.splat(y5[ci]), times: wv)
                            a6 = a6.adding(.splat(y6[ci]), times: wv)
                            a7 = a7.adding(.splat(y7[ci]), times: wv)
                        }
                    }
                }
                put(a0, at, 0)
                put(a1, at, 1)
                put(a2, at, 2)
                put(a3, at, 3)
                put(a4, at, 4)
                put(a5, at, 5)
                put(a6, at, 6)
                put(a7, at, 7)
                p &+= 8
                if p &+ 8 > end { overlapLast(tile: 8) }
            }
            #if FERCC_AVX512
            // Twelve-pixel tiles for 16 lanes where the target has 32 vector registers: six
            // accumulators left the two 512-bit FMA units waiting on their latency (the single
            // blocks of layers of 16, 24 or 48 channels: a fifth of BlazeFace's time).
            while V.lanes == 16 && p &+ 12 <= end {
                let at = cursor
                let x0 = window(), x1 = window(), x2 = window(), x3 = window(), x4 = window(), x5 = window()
                let x6 = window(), x7 = window(), x8 = window(), x9 = window(), x10 = window(), x11 = window()
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias
                var a6 = bias, a7 = bias, a8 = bias, a9 = bias, a10 = bias, a11 = bias
                var wp = w
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                        let y6 = x6 + off, y7 = x7 + off, y8 = x8 + off, y9 = x9 + off, y10 = x10 + off,
                            y11 = x11 + off
                        for ci in 0..<rowTaps {
                            let wv = V.load(wp)
                            wp += Self.lanes
                            a0 = a0.adding(.splat(y0[ci]), times: wv)
                            a1 = a1.adding(.splat(y1[ci]), times: wv)
                            a2 = a2.adding(.splat(y2[ci]), times: wv)
                            a3 = a3.adding(.splat(y3[ci]), times: wv)
                            a4 = a4.adding(.splat(y4[ci]), times: wv)
                            a5 = a5.adding(.splat(y5[ci]), times: wv)
                            a6 = a6.adding(.splat(y6[ci]), times: wv)
                            a7 = a7.adding(.splat(y7[ci]), times: wv)
                            a8 = a8.adding(.splat(y8[ci]), times: wv)
                            a9 = a9.adding(.splat(y9[ci]), times: wv)
                            a10 = a10.adding(.splat(y10[ci]), times: wv)
                            a11 = a11.adding(.splat(y11[ci]), times: wv)
                        }
                    }
                }
                put(a0, at, 0)
                put(a1, at, 1)
                put(a2, at, 2)
                put(a3, at, 3)
                put(a4, at, 4)
                put(a5, at, 5)
                put(a6, at, 6)
                put(a7, at, 7)
                put(a8, at, 8)
                put(a9, at, 9)
                put(a10, at, 10)
                put(a11, at, 11)
                p &+= 12
            }
            #endif
            // Six-pixel tiles for 16 lanes; 8-lane blocks go from 8 to 4 (their chunks' tails, each
            // under 8 pixels, measured the same, and each tile width is compile time).
            if V.lanes == 16 && p &+ 6 > end { overlapLast(tile: 6) }
            while V.lanes == 16 && p &+ 6 <= end {
                let at = cursor
                let x0 = window(), x1 = window(), x2 = window(), x3 = window(), x4 = window(), x5 = window()
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias
                var wp = w
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                        for ci in 0..<rowTaps {
                            let wv = V.load(wp)
                            wp += Self.lanes
                            a0 = a0.adding(.splat(y0[ci]), times: wv)
                            a1 = a1.adding(.splat(y1[ci]), times: wv)
                            a2 = a2.adding(.splat(y2[ci]), times: wv)
                            a3 = a3.adding(.splat(y3[ci]), times: wv)
                            a4 = a4.adding(.splat(y4[ci]), times: wv)
                            a5 = a5.adding(.splat(y5[ci]), times: wv)
                        }
                    }
                }
                put(a0, at, 0)
                put(a1, at, 1)
                put(a2, at, 2)
                put(a3, at, 3)
                put(a4, at, 4)
                put(a5, at, 5)
                p &+= 6
                if p &+ 6 > end { overlapLast(tile: 6) }
            }
            while p &+ 4 <= end {
                let at = cursor
                let x0 = window(), x1 = window(), x2 = window(), x3 = window()
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias
                var wp = w
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off
                        for ci in 0..<rowTaps {
                            let wv = V.load(wp)
                            wp += Self.lanes
                            a0 = a0.adding(.splat(y0[ci]), times: wv)
                            a1 = a1.adding(.splat(y1[ci]), times: wv)
                            a2 = a2.adding(.splat(y2[ci]), times: wv)
                            a3 = a3.adding(.splat(y3[ci]), times: wv)
                        }
                    }
                }
                put(a0, at, 0)
                put(a1, at, 1)
                put(a2, at, 2)
                put(a3, at, 3)
                p &+= 4
            }
            while p < end {
                let at = cursor
                let x0 = window()
                var a0 = bias
                var wp = w
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let y0 = x0 + (kh &* rowStep &+ kw &* columnStep)
                        for ci in 0..<rowTaps {
                            a0 = a0.adding(.splat(y0[ci]), times: V.load(wp))
                            wp += Self.lanes
                        }
                    }
                }
                put(a0, at, 0)
                p &+= 1
            }
            #endif
        }
    }
}
