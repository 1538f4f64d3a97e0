// fercc-kernel requires: Common/SIMD.swift Common/Geometry.swift

extension Kernels {
    /// Max and average pooling over an NHWC tensor, vectorized over channels. Windows are clipped to
    /// the input; the average divides by the taps inside the input, or with `countIncludePad` by the
    /// taps inside the padded input (ONNX count_include_pad; ceil-mode overhang never counts).
    public struct Pool2DKernel: Sendable {
        public enum Kind: Sendable { case max, average(countIncludePad: Bool) }
        public let geometry: Conv2DGeometry
        public let kind: Kind

        @inline(never)
        public init(geometry: Conv2DGeometry, kind: Kind) {
            self.geometry = geometry
            self.kind = kind
        }

        /// Taps of one window axis: (first valid tap, end tap, count for the divisor).
        @inline(__always)
        static func taps(
            _ o: Int, stride: Int, dilation: Int, kernel: Int, padBegin: Int, padEnd: Int, size: Int, includePad: Bool
        )
            -> (first: Int, end: Int, count: Int)
        {
            // Counted, not looped over the kernel: a window far larger than the input costs nothing.
            let start = o * stride - padBegin
            // A window inside the input (most of them): no divisions.
            if start >= 0 && start + (kernel - 1) * dilation < size { return (0, kernel, kernel) }
            @inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
            // Taps i with start + i * dilation inside [0, size), and below size + padEnd.
            let first = start >= 0 ? 0 : min(kernel, ceilDiv(-start, dilation))
            let end = max(first, size - start <= 0 ? 0 : min(kernel, ceilDiv(size - start, dilation)))
            let limit = size + padEnd - start
            let padded = limit <= 0 ? 0 : min(kernel, ceilDiv(limit, dilation))
            return (first, end, includePad ? padded : end - first)
        }

        /// Taps of output row `oh`'s window.
        @inline(__always)
        func rowTaps(_ oh: Int, includePad: Bool) -> (first: Int, end: Int, count: Int) {
            let g = geometry
            return Self.taps(
                oh, stride: g.strideH, dilation: g.dilationH, kernel: g.kernelH, padBegin: g.padTop,
                padEnd: g.padBottom, size: g.inH, includePad: includePad)
        }

        /// Taps of output column `ow`'s window.
        @inline(__always)
        func columnTaps(_ ow: Int, includePad: Bool) -> (first: Int, end: Int, count: Int) {
            let g = geometry
            return Self.taps(
                ow, stride: g.strideW, dilation: g.dilationW, kernel: g.kernelW, padBegin: g.padLeft,
                padEnd: g.padRight, size: g.inW, includePad: includePad)
        }

        public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
            let g = geometry
            let c = g.inC
            if case .max = kind, c >= 8 {
                runMax(input, output)
                return
            }
            let lanes = FloatVector.lanes
            var isMax = true, includePad = false
            if case .average(let inc) = kind { isMax = false; includePad = inc }
            for n in 0..<g.batch {
                let image = input + n * g.inH * g.inW * c
                for oh in 0..<g.outH {
                    let th = rowTaps(oh, includePad: includePad)
                    for ow in 0..<g.outW {
                        let tw = columnTaps(ow, includePad: includePad)
                        let o = output + ((n * g.outH + oh) * g.outW + ow) * c
                        let h0 = oh * g.strideH - g.padTop, w0 = ow * g.strideW - g.padLeft
                        let count = th.count * tw.count
                        let scale: Float = isMax || count == 0 ? 0 : 1 / Float(count)
                        // Averages in vectors of 16 channels; with 16 or more channels a partial
                        // last vector is the last 16, overlapping the one before (the same results
                        // written twice). Max pooling gets here only below 8 channels: scalar.
                        let vectors = !isMax && c >= lanes ? (c + lanes - 1) / lanes : 0
                        for v in 0..<vectors {
                            let ch = Swift.min(v * lanes, c - lanes)
                            var acc = SIMD16<Float>(repeating: 0)
                            // Wrapping index arithmetic: the taps are inside the input, whose
                            // size the lowering checked (the overflow checks were a third of
                            // max pooling's instructions).
                            for i in th.first..<th.end {
                                let row = image + ((h0 &+ i &* g.dilationH) &* g.inW &* c &+ ch)
                                for j in tw.first..<tw.end {
                                    acc += FloatVector.load(row + (w0 &+ j &* g.dilationW) &* c).v
                                }
                            }
                            FloatVector(acc * scale).store(o + ch)
                        }
                        var ch = vectors > 0 ? c : 0
                        while ch < c {
                            var acc: Float = isMax ? -.infinity : 0
                            for i in th.first..<th.end {
                                for j in tw.first..<tw.end {
                                    let v = image[((h0 + i * g.dilationH) * g.inW + w0 + j * g.dilationW) * c + ch]
                                    if isMax { acc = Swift.max(acc, v) } else { acc += v }
                                }
                            }
                            o[ch] = isMax ? acc : acc * scale
                            ch += 1
                        }
                    }
                }
            }
        }

        /// Max pooling over 8 or more channels: each window's row and column ranges found once for
        /// all its channels, 16 channels at a time, then 8, then the last 8 again for a remainder
        /// (the same maxima written twice), with one `vmaxps` per tap and register where the target
        /// has it (the compare-and-select form was about 8 instructions). The columns whose windows
        /// are inside the input step a pointer, 3x3 and 2x2 windows unrolled; only the edge columns count
        /// their taps (the count's checked arithmetic, per pixel, took more time than the maxima).
        /// Each lane folds its taps in the same order from -infinity as `run`'s loop does, so a NaN
        /// input is skipped the same way: the same bits.
        func runMax(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
            let g = geometry
            let c = g.inC
            let dy = g.dilationH &* g.inW &* c, dx = g.dilationW &* c, step = g.strideW &* c
            // Columns [inside, insideEnd): windows from a column >= 0 to one below inW.
            let inside = min(g.outW, (g.padLeft + g.strideW - 1) / g.strideW)
            let last = g.inW - (g.kernelW - 1) * g.dilationW + g.padLeft - 1
            let insideEnd = last < 0 ? inside : max(inside, min(g.outW, last / g.strideW + 1))
            for n in 0..<g.batch {
                let image = input + n * g.inH * g.inW * c
                for oh in 0..<g.outH {
                    let th = rowTaps(oh, includePad: false)
                    let rows = th.end - th.first
                    // Wrapping arithmetic, as in `run`: the taps are inside the input.
                    let top = image + (oh &* g.strideH &- g.padTop &+ th.first &* g.dilationH) &* g.inW &* c
                    let o = output + ((n * g.outH + oh) * g.outW) * c
                    @inline(__always) func edge(_ ow: Int) {
                        let tw = columnTaps(ow, includePad: false)
                        let corner = top + (ow &* g.strideW &- g.padLeft &+ tw.first &* g.dilationW) &* c
                        Self.maxWindow(
                            corner, o + ow &* c, channels: c, rows: rows, columns: tw.end - tw.first, dy: dy, dx: dx)
                    }
                    @inline(__always) func interior(rows: Int, columns: Int) {
                        var x = top + (inside &* g.strideW &- g.padLeft) &* c
                        for ow in inside..<insideEnd {
                            Self.maxWindow(x, o + ow &* c, channels: c, rows: rows, columns: columns, dy: dy, dx: dx)
                            x += step
                        }
                    }
                    for ow in 0..<inside { edge(ow) }
                    if rows == 3 && g.kernelW == 3 {
                        interior(rows: 3, columns: 3)
                    } else if rows == 2 && g.kernelW == 2 {
                        interior(rows: 2, columns: 2)
                    } else {
                        interior(rows: rows, columns: g.kernelW)
                    }
                    for ow in insideEnd..<g.outW { edge(ow) }
                }
            }
        }

        /// The maxima of one window of `rows` x `columns` taps from `corner`, over every channel.
        @inline(__always)
        static func maxWindow(
            _ corner: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, channels c: Int, rows: Int,
            columns: Int, dy: Int, dx: Int
        ) {
            @inline(__always) func lanes<V: FloatLanes>(_: V.Type, _ ch: Int) {
                var acc = V.splat(-.infinity)
                for i in 0..<rows {
                    let row = corner + (i &* dy &+ ch)
                    for j in 0..<columns { acc = V.load(row + j &* dx).maximum(acc) }
                }
                acc.store(o + ch)
            }
            var ch = 0
            while ch &+ 16 <= c {
                lanes(Lanes16.self, ch)
                ch &+= 16
            }
            if ch &+ 8 <= c {
                lanes(Lanes8.self, ch)
                ch &+= 8
            }
            if ch < c { lanes(Lanes8.self, c &- 8) }
        }
    }
}
