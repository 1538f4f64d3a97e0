// fercc-kernel requires: Common/SIMD.swift Common/Geometry.swift Common/Activation.swift

extension Kernels {
    /// Depthwise convolution (one input and one output channel per group) of an NHWC tensor,
    /// vectorized over channels. Weights are packed as [kh][kw][C].
    public struct DepthwiseConv2DKernel {
        public let geometry: Conv2DGeometry
        /// The weights in the kernel's layout (`pack`) and the bias, read in place.
        let packed: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let activation: Activation
        /// ReLU / clip applied in registers before each store (see OutputClamp).
        let clamp: OutputClamp?

        /// From weights in the packed layout (`pack`) and `C` biases, both read in place (the
        /// memory must outlive the kernel).
        @inline(never)
        public init(
            geometry g: Conv2DGeometry, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>,
            activation: Activation = .identity
        ) {
            geometry = g
            self.packed = packed
            self.bias = bias
            self.activation = activation
            clamp = OutputClamp(activation)
        }

        /// Scratch floats: on AArch64 the padded input; elsewhere zero-padded copies of the parts
        /// of a row whose windows cross the padding (none without padding), never more than the
        /// padded input, which the lowering reserves for every target.
        public var scratchCount: Int { Self.scratchCount(geometry) }

        static func scratchCount(_ g: Conv2DGeometry) -> Int {
            #if arch(arm64)
            return g.paddedInputCount
            #else
            return inPlaceScratchCount(g)
            #endif
        }

        /// Floats of scratch `computeRows(input:...)` needs: at most `paddedInputCount`.
        static func inPlaceScratchCount(_ g: Conv2DGeometry) -> Int {
            guard g.hasPadding else { return 0 }
            // A whole row's padded copy, or the two of a row's ends (`computeRows`).
            let (left, right) = inPlaceColumns(g)
            func width(_ columns: Range<Int>) -> Int { columns.isEmpty ? 0 : (columns.count - 1) * g.strideW + g.spanW }
            let ends = right > left ? width(0..<left) + width(right..<g.outW) : 0
            return g.spanH * max(width(0..<g.outW), ends) * g.inC
        }

        /// Output columns whose windows lie inside the image: [left, right).
        static func inPlaceColumns(_ g: Conv2DGeometry) -> (Int, Int) {
            let left = min(g.outW, (g.padLeft + g.strideW - 1) / g.strideW)
            let lastStart = g.padLeft + g.inW - g.spanW
            return (left, lastStart < 0 ? left : max(left, min(g.outW, lastStart / g.strideW + 1)))
        }

        /// `run` with the kernel's clamp as a type argument (`NoClamp` when it has none).
        public func run<C: VectorClamp>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
            clamp: C
        ) {
            let g = geometry
            #if arch(arm64)
            // AArch64 copies the padded input once, for the reason in decision 42 of docs/design.md.
            let src = zeroPadded(input, g, scratch: scratch)
            for n in 0..<g.batch {
                computeRows(
                    block: src + n * g.paddedH * g.paddedW * g.inC, blockFirstRow: 0, rows: 0..<g.outH,
                    output: output + n * g.outH * g.outW * g.outC, clamp: clamp)
            }
            #else
            for n in 0..<g.batch {
                computeRows(
                    input: input, image: n, rows: 0..<g.outH, output: output + n * g.outH * g.outW * g.outC,
                    scratch: scratch, clamp: clamp)
            }
            #endif
        }

        #if arch(arm64)
        /// Writes padded rows `padded` of image `n` of the unpadded `input` into `block` (zeros
        /// outside the image).
        public func padRows(
            _ input: UnsafePointer<Float>, image n: Int, padded: Range<Int>, into block: UnsafeMutablePointer<Float>
        ) {
            let g = geometry
            let rowFloats = g.paddedW * g.inC
            for (i, p) in padded.enumerated() {
                let dst = block + i * rowFloats
                let y = p - g.padTop
                if y < 0 || y >= g.inH {
                    dst.update(repeating: 0, count: rowFloats)
                    continue
                }
                dst.update(repeating: 0, count: g.padLeft * g.inC)
                UnsafeMutableRawPointer(dst + g.padLeft * g.inC).copyMemory(
                    from: input + ((n * g.inH + y) * g.inW) * g.inC, byteCount: g.inW * g.inC * 4)
                (dst + (g.padLeft + g.inW) * g.inC).update(repeating: 0, count: g.padRight * g.inC)
            }
        }
        #endif

        /// Padded input rows the output rows `rows` read: [first, end) in padded coordinates.
        public func paddedRows(for rows: Range<Int>) -> Range<Int> {
            let g = geometry
            return (rows.lowerBound * g.strideH)..<((rows.upperBound - 1) * g.strideH + g.spanH)
        }

        #if !arch(arm64)
        /// Output rows `rows` of image `n` of the unpadded `input`, written to `output` from its
        /// start (row rows.lowerBound first), reading the input in place. Only the pixels whose
        /// windows cross the padding read a zero-padded copy of their part of the input, made in
        /// `scratch` (`scratchCount` floats): copying every padded row cost 5-9% of the fused
        /// kernels' models (the trained mini-Xception, BlazeFace). Every pixel sums the same taps,
        /// the padding's zeros included, in the same order either way.
        public func computeRows<C: VectorClamp>(
            input: UnsafePointer<Float>, image n: Int, rows: Range<Int>, output: UnsafeMutablePointer<Float>,
            scratch: UnsafeMutablePointer<Float>, clamp: C
        ) {
            let g = geometry, c = g.inC
            let (left, right) = Self.inPlaceColumns(g)
            let image = input + n * g.inH * g.inW * c
            for oh in rows {
                let outRow = output + (oh - rows.lowerBound) * g.outW * c
                let top = oh * g.strideH - g.padTop
                var parts = RowParts()
                if top < 0 || top + g.spanH > g.inH || right <= left {
                    parts.append(paddedPart(image, top: top, columns: 0..<g.outW, scratch))
                } else {
                    var copies = scratch
                    if left > 0 {
                        parts.append(paddedPart(image, top: top, columns: 0..<left, copies))
                        copies += g.spanH * parts[0].pitch
                    }
                    parts.append(
                        RowPart(
                            input: image + (top * g.inW + left * g.strideW - g.padLeft) * c, pitch: g.inW * c,
                            first: left, count: right - left))
                    if right < g.outW { parts.append(paddedPart(image, top: top, columns: right..<g.outW, copies)) }
                }
                pixels(rows: 1, clamp) { _ in (parts, outRow) }
                if let a = rowActivation { a.run(outRow, outRow, count: g.outW * c) }
            }
        }

        /// The part of an output row (`columns`) whose windows start on image row `top` (negative in
        /// the padding), read from a zero-padded copy in `scratch` of the input they read.
        func paddedPart(
            _ image: UnsafePointer<Float>, top: Int, columns: Range<Int>, _ scratch: UnsafeMutablePointer<Float>
        )
            -> RowPart
        {
            let g = geometry, c = g.inC
            // Padded columns [p0, p0 + width); image columns [x0, x1) of them are in the image.
            let p0 = columns.lowerBound * g.strideW, width = (columns.count - 1) * g.strideW + g.spanW
            let x0 = max(0, p0 - g.padLeft), x1 = max(x0, min(g.inW, p0 + width - g.padLeft))
            let lead = min(width, x0 + g.padLeft - p0)
            for r in 0..<g.spanH {
                let dst = scratch + r * width * c, y = top + r
                guard y >= 0 && y < g.inH && x1 > x0 else {
                    dst.update(repeating: 0, count: width * c)
                    continue
                }
                dst.update(repeating: 0, count: lead * c)
                UnsafeMutableRawPointer(dst + lead * c).copyMemory(
                    from: image + (y * g.inW + x0) * c, byteCount: (x1 - x0) * c * 4)
                (dst + (lead + x1 - x0) * c).update(repeating: 0, count: (width - lead - (x1 - x0)) * c)
            }
            return RowPart(input: scratch, pitch: width * c, first: columns.lowerBound, count: columns.count)
        }

        #endif

        /// A run of an output row's pixels: `count` from column `first`, whose windows start at
        /// `input` (the first pixel's), `pitch` floats from one input row to the next.
        struct RowPart {
            let input: UnsafePointer<Float>
            let pitch: Int, first: Int, count: Int
        }

        /// The one to three parts of an output row, computed channel block by channel block so
        /// that a block's weights are loaded once per row.
        struct RowParts {
            private var stored = 0
            /// On AArch64 a row is always one part (it reads the band's padded copy): a constant
            /// count folds the loops over the parts away.
            var count: Int {
                #if arch(arm64)
                return 1
                #else
                return stored
                #endif
            }
            private var parts: (RowPart?, RowPart?, RowPart?) = (nil, nil, nil)
            mutating func append(_ p: RowPart) {
                switch stored {
                case 0: parts.0 = p
                case 1: parts.1 = p
                default: parts.2 = p
                }
                stored &+= 1
            }
            subscript(i: Int) -> RowPart {
                (i == 0 ? parts.0 : i == 1 ? parts.1 : parts.2).unsafelyUnwrapped
            }
        }

        /// Output rows `rows`, written to `output` from its start (row rows.lowerBound first), reading
        /// `block`, which holds the padded input of one image from padded row `blockFirstRow` on.
        /// With the kernel's clamp as a type argument (`NoClamp` when it has none).
        public func computeRows<C: VectorClamp>(
            block src: UnsafePointer<Float>, blockFirstRow: Int, rows: Range<Int>,
            output: UnsafeMutablePointer<Float>, clamp: C
        ) {
            let g = geometry, pitch = g.paddedW * g.inC
            pixels(rows: rows.count, clamp) { i in
                let oh = rows.lowerBound + i
                var parts = RowParts()
                parts.append(
                    RowPart(
                        input: src + (oh * g.strideH - blockFirstRow) * pitch, pitch: pitch, first: 0, count: g.outW))
                return (parts, output + i * g.outW * g.inC)
            }
            if let a = rowActivation { a.run(output, output, count: rows.count * g.outW * g.inC) }
        }

        /// The activation run over each output row once it is written: the one no clamp applies
        /// in registers.
        var rowActivation: Activation? { clamp == nil && activation != .identity ? activation : nil }

        /// `rows` output rows (row i's parts and output: `row(i)`), all channels: 16 channels at a
        /// time, then 8 (8-channel layers, the last 8 of 24), then the last 8 again for a remainder;
        /// single channels only below 8 channels. Each block runs over all the rows before the
        /// next, so the input rows they share stay in L1 (decision 50).
        @inline(__always)
        func pixels<C: VectorClamp>(
            rows: Int, _ clamp: C, _ row: (Int) -> (RowParts, UnsafeMutablePointer<Float>)
        ) {
            let g = geometry
            let c = g.inC
            let scalarActivation: Activation = self.clamp == nil ? .identity : activation
            @inline(__always) func forRows(_ body: (RowParts, UnsafeMutablePointer<Float>) -> Void) {
                for i in 0..<rows {
                    let (parts, outRow) = row(i)
                    body(parts, outRow)
                }
            }
            var ch = 0
            // Eight channels at a time on arm64 (a 3x3 kernel's 16-channel weights are 36 NEON
            // registers) and with AVX2 at stride 1, where four-pixel tiles of 8 channels keep
            // their weights in registers (16 channels' are 18 of the 16, and each pixel's two
            // 9-long chains of multiply-adds waited on their latency: 44x44x16 took 1.4x as
            // long). At stride 2 the tiles share few loads, and rows under 8 pixels recompute
            // too many of theirs: 16 at a time measured as fast or faster there. Other kernel
            // sizes have no tiles: their per-pixel loop ran 1.5-2.2x as long on 8 channels.
            #if arch(arm64)
            let eight = true
            #elseif arch(x86_64) && FERCC_AVX2 && !FERCC_AVX512
            let eight = g.kernelH == 3 && g.kernelW == 3 && g.strideW == 1 && g.dilationW == 1 && g.outW >= 8
            #else
            let eight = false
            #endif
            while eight && ch + 8 <= c {
                forRows { channelRow(Lanes8.self, ch, $0, $1, clamp) }
                ch += 8
            }
            #if !arch(arm64)
            while ch + 16 <= c {
                forRows { channelRow(FloatVector.self, ch, $0, $1, clamp) }
                ch += 16
            }
            #endif
            if ch + 8 <= c {
                forRows { channelRow(Lanes8.self, ch, $0, $1, clamp) }
                ch += 8
            }
            if ch < c && c >= 8 {
                // The last 1-7 channels (BlazeFace's 28, 36, 42): the last 8, again. Channels
                // done twice get the same bits (the same sums in the same order), and the
                // scalar loop below cost 40% of such a layer.
                forRows { channelRow(Lanes8.self, c - 8, $0, $1, clamp) }
                ch = c
            }
            while ch < c {
                forRows { parts, outRow in
                    for i in 0..<parts.count {
                        let part = parts[i]
                        for ow in 0..<part.count {
                            let corner = part.input + ow * g.strideW * c + ch
                            var acc = bias[ch]
                            for kh in 0..<g.kernelH {
                                for kw in 0..<g.kernelW {
                                    acc +=
                                        corner[kh * g.dilationH * part.pitch + kw * g.dilationW * c]
                                        * packed[(kh * g.kernelW + kw) * c + ch]
                                }
                            }
                            outRow[(part.first + ow) * c + ch] = scalarActivation.apply(acc)
                        }
                    }
                }
                ch += 1
            }
        }

        /// Channels `ch..<ch + V.lanes` of an output row's parts (`outRow`). Each output sums the
        /// bias, then the taps in kernel order.
        @inline(__always)
        func channelRow<V: FloatLanes, C: VectorClamp>(
            _: V.Type, _ ch: Int, _ parts: RowParts, _ outRow: UnsafeMutablePointer<Float>, _ clamp: C
        ) {
            let g = geometry, c = g.inC
            let dx = g.dilationW * c, sx = g.strideW * c
            let bv = V.load(bias + ch)
            guard g.kernelH == 3 && g.kernelW == 3 else {
                for i in 0..<parts.count {
                    let part = parts[i], dy = g.dilationH * part.pitch
                    var x = part.input + ch
                    var o = outRow + part.first * c + ch
                    for _ in 0..<part.count {
                        var acc = bv
                        for kh in 0..<g.kernelH {
                            let row = x + kh * dy, w = packed + kh * g.kernelW * c + ch
                            for kw in 0..<g.kernelW {
                                acc = acc.adding(V.load(row + kw * dx), times: V.load(w + kw * c))
                            }
                        }
                        clamp.apply(acc).store(o)
                        x += sx
                        o += c
                    }
                }
                return
            }
            // 3x3: the nine weight vectors stay in registers across the row's parts.
            let wb = packed + ch
            let k0 = V.load(wb), k1 = V.load(wb + c), k2 = V.load(wb + 2 * c)
            let k3 = V.load(wb + 3 * c), k4 = V.load(wb + 4 * c), k5 = V.load(wb + 5 * c)
            let k6 = V.load(wb + 6 * c), k7 = V.load(wb + 7 * c), k8 = V.load(wb + 8 * c)
            #if arch(x86_64) && FERCC_AVX2
            #if FERCC_AVX512
            let fourPixels = true
            #else
            // AVX2: 8 channels only (9 weight registers, 4 accumulators and the inputs in 16).
            let fourPixels = V.lanes == 8
            #endif
            #endif
            for i in 0..<parts.count {
                let part = parts[i], count = part.count, dy = g.dilationH * part.pitch
                var x = part.input + ch
                var o = outRow + part.first * c + ch
                var ow = 0
                #if arch(x86_64) && FERCC_AVX2
                if fourPixels && sx == c && dx == c {
                    // Stride and dilation 1: four pixels at once share their input loads (6 per
                    // kernel row, not 12) and run four independent chains of multiply-adds.
                    @inline(__always) func kernelRow(
                        _ p: UnsafePointer<Float>, _ ka: V, _ kb: V, _ kc: V,
                        _ a0: inout V, _ a1: inout V, _ a2: inout V, _ a3: inout V
                    ) {
                        let v0 = V.load(p), v1 = V.load(p + c), v2 = V.load(p + 2 &* c)
                        let v3 = V.load(p + 3 &* c), v4 = V.load(p + 4 &* c), v5 = V.load(p + 5 &* c)
                        a0 = a0.adding(v0, times: ka).adding(v1, times: kb).adding(v2, times: kc)
                        a1 = a1.adding(v1, times: ka).adding(v2, times: kb).adding(v3, times: kc)
                        a2 = a2.adding(v2, times: ka).adding(v3, times: kb).adding(v4, times: kc)
                        a3 = a3.adding(v3, times: ka).adding(v4, times: kb).adding(v5, times: kc)
                    }
                    // A row's last 1-3 pixels in one more tile ending at the row's end, recomputing
                    // up to 3 pixels with the same bits (a single pixel is one 9-long chain).
                    while ow < count && count >= 4 {
                        if ow &+ 4 > count {
                            let back = ow &+ 4 &- count
                            ow &-= back
                            x -= back &* c
                            o -= back &* c
                        }
                        var a0 = bv, a1 = bv, a2 = bv, a3 = bv
                        kernelRow(x, k0, k1, k2, &a0, &a1, &a2, &a3)
                        kernelRow(x + dy, k3, k4, k5, &a0, &a1, &a2, &a3)
                        kernelRow(x + 2 &* dy, k6, k7, k8, &a0, &a1, &a2, &a3)
                        clamp.apply(a0).store(o)
                        clamp.apply(a1).store(o + c)
                        clamp.apply(a2).store(o + 2 &* c)
                        clamp.apply(a3).store(o + 3 &* c)
                        x += 4 &* c
                        o += 4 &* c
                        ow &+= 4
                    }
                }
                #endif
                #if arch(arm64)
                if sx == c && dx == c {
                    // Stride and dilation 1: two pixels share their input loads (4 per kernel row, not 6);
                    // 8 channels keep the 18 weight registers, 4 accumulators and the inputs in 32.
                    @inline(__always) func kernelRow(
                        _ p: UnsafePointer<Float>, _ ka: V, _ kb: V, _ kc: V, _ a0: inout V, _ a1: inout V
                    ) {
                        let v0 = V.load(p), v1 = V.load(p + c), v2 = V.load(p + 2 &* c), v3 = V.load(p + 3 &* c)
                        a0 = a0.adding(v0, times: ka).adding(v1, times: kb).adding(v2, times: kc)
                        a1 = a1.adding(v1, times: ka).adding(v2, times: kb).adding(v3, times: kc)
                    }
                    while ow &+ 2 <= count {
                        var a0 = bv, a1 = bv
                        kernelRow(x, k0, k1, k2, &a0, &a1)
                        kernelRow(x + dy, k3, k4, k5, &a0, &a1)
                        kernelRow(x + 2 &* dy, k6, k7, k8, &a0, &a1)
                        clamp.apply(a0).store(o)
                        clamp.apply(a1).store(o + c)
                        x += 2 &* c
                        o += 2 &* c
                        ow &+= 2
                    }
                }
                #endif
                let dx2 = 2 * dx, dy2 = 2 * dy, t4 = dy + dx, t5 = dy + dx2, t7 = dy2 + dx, t8 = dy2 + dx2
                while ow < count {
                    var acc = bv.adding(V.load(x), times: k0)
                    acc = acc.adding(V.load(x + dx), times: k1).adding(V.load(x + dx2), times: k2)
                    acc = acc.adding(V.load(x + dy), times: k3).adding(V.load(x + t4), times: k4)
                    acc = acc.adding(V.load(x + t5), times: k5).adding(V.load(x + dy2), times: k6)
                    acc = acc.adding(V.load(x + t7), times: k7).adding(V.load(x + t8), times: k8)
                    clamp.apply(acc).store(o)
                    x += sx
                    o += c
                    ow &+= 1
                }
            }
        }
    }
}
