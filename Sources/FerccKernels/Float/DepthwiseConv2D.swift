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

        public var scratchCount: Int { geometry.paddedInputCount }

        /// `run` with the kernel's clamp as a type argument (`NoClamp` when it has none).
        public func run<C: VectorClamp>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
            clamp: C
        ) {
            let g = geometry
            let src = padded(input, scratch: scratch)
            for n in 0..<g.batch {
                computeRows(
                    src + n * g.paddedH * g.paddedW * g.inC, 0, 0..<g.outH, output + n * g.outH * g.outW * g.outC, clamp
                )
            }
        }

        /// Padded input rows the output rows `rows` read: [first, end) in padded coordinates.
        public func paddedRows(for rows: Range<Int>) -> Range<Int> {
            let g = geometry
            return
                (rows.lowerBound * g.strideH)..<((rows.upperBound - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + 1)
        }

        /// Writes padded rows `padded` of image `n` of the unpadded `input` into `block` (zeros outside the image).
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

        /// The input with its padding materialized (in `scratch` when there is padding).
        public func padded(_ input: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>
        {
            let g = geometry
            guard g.hasPadding else { return input }
            padNHWC(
                input, scratch, batch: g.batch, h: g.inH, w: g.inW, c: g.inC,
                top: g.padTop, left: g.padLeft, bottom: g.padBottom, right: g.padRight, fill: 0)
            return UnsafePointer(scratch)
        }

        /// Output rows `rows`, written to `output` from its start (row rows.lowerBound first), reading
        /// `block`, which holds the padded input of one image from padded row `blockFirstRow` on.
        /// With the kernel's clamp as a type argument (`NoClamp` when it has none).
        public func computeRows<C: VectorClamp>(
            block src: UnsafePointer<Float>, blockFirstRow: Int, rows: Range<Int>,
            output: UnsafeMutablePointer<Float>, clamp: C
        ) {
            computeRows(src, blockFirstRow, rows, output, clamp)
        }

        /// computeRows specialized for each kind of clamp: 16 channels at a time, then 8 (8-channel
        /// layers, the last 8 of 24), then the last 8 again for a remainder; single channels only
        /// below 8 channels.
        func computeRows<C: VectorClamp>(
            _ src: UnsafePointer<Float>, _ blockFirstRow: Int, _ rows: Range<Int>,
            _ output: UnsafeMutablePointer<Float>, _ clamp: C
        ) {
            let g = geometry
            let pw = g.paddedW, c = g.inC
            let rowActivation: Activation? = self.clamp == nil && activation != .identity ? activation : nil
            let scalarActivation: Activation = self.clamp == nil ? .identity : activation
            for oh in rows {
                let outRow = output + (oh - rows.lowerBound) * g.outW * c
                let inRow = src + (oh * g.strideH - blockFirstRow) * pw * c
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
                    channelRow(Lanes8.self, ch, inRow, outRow, clamp)
                    ch += 8
                }
                #if !arch(arm64)
                while ch + 16 <= c {
                    channelRow(FloatVector.self, ch, inRow, outRow, clamp)
                    ch += 16
                }
                #endif
                if ch + 8 <= c {
                    channelRow(Lanes8.self, ch, inRow, outRow, clamp)
                    ch += 8
                }
                if ch < c && c >= 8 {
                    // The last 1-7 channels (BlazeFace's 28, 36, 42): the last 8, again. Channels
                    // done twice get the same bits (the same sums in the same order), and the
                    // scalar loop below cost 40% of such a layer.
                    channelRow(Lanes8.self, c - 8, inRow, outRow, clamp)
                    ch = c
                }
                while ch < c {
                    for ow in 0..<g.outW {
                        let corner = inRow + ow * g.strideW * c + ch
                        var acc = bias[ch]
                        for kh in 0..<g.kernelH {
                            for kw in 0..<g.kernelW {
                                acc +=
                                    corner[(kh * g.dilationH * pw + kw * g.dilationW) * c]
                                    * packed[(kh * g.kernelW + kw) * c + ch]
                            }
                        }
                        outRow[ow * c + ch] = scalarActivation.apply(acc)
                    }
                    ch += 1
                }
                if let a = rowActivation { a.run(outRow, outRow, count: g.outW * c) }
            }
        }

        /// Channels `ch..<ch + V.lanes` of one output row (`outRow`), from the padded input row its
        /// windows start on (`inRow`). Each output sums the bias, then the taps in kernel order.
        @inline(__always)
        func channelRow<V: FloatLanes, C: VectorClamp>(
            _: V.Type, _ ch: Int, _ inRow: UnsafePointer<Float>,
            _ outRow: UnsafeMutablePointer<Float>, _ clamp: C
        ) {
            let g = geometry, c = g.inC
            let dy = g.dilationH * g.paddedW * c, dx = g.dilationW * c, sx = g.strideW * c
            let bv = V.load(bias + ch)
            var x = inRow + ch
            var o = outRow + ch
            var ow = 0
            guard g.kernelH == 3 && g.kernelW == 3 else {
                while ow < g.outW {
                    var acc = bv
                    for kh in 0..<g.kernelH {
                        let row = x + kh * dy, w = packed + kh * g.kernelW * c + ch
                        for kw in 0..<g.kernelW { acc = acc.adding(V.load(row + kw * dx), times: V.load(w + kw * c)) }
                    }
                    clamp.apply(acc).store(o)
                    x += sx
                    o += c
                    ow += 1
                }
                return
            }
            // 3x3: the nine weight vectors stay in registers across the row.
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
                while ow < g.outW && g.outW >= 4 {
                    if ow &+ 4 > g.outW {
                        let back = ow &+ 4 &- g.outW
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
                while ow &+ 2 <= g.outW {
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
            while ow < g.outW {
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
