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

        public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
            let g = geometry
            let c = g.inC
            let lanes = FloatVector.lanes
            var isMax = true, includePad = false
            if case .average(let inc) = kind { isMax = false; includePad = inc }
            for n in 0..<g.batch {
                let image = input + n * g.inH * g.inW * c
                for oh in 0..<g.outH {
                    let th = Self.taps(
                        oh, stride: g.strideH, dilation: g.dilationH, kernel: g.kernelH,
                        padBegin: g.padTop, padEnd: g.padBottom, size: g.inH, includePad: includePad)
                    for ow in 0..<g.outW {
                        let tw = Self.taps(
                            ow, stride: g.strideW, dilation: g.dilationW, kernel: g.kernelW,
                            padBegin: g.padLeft, padEnd: g.padRight, size: g.inW, includePad: includePad)
                        let o = output + ((n * g.outH + oh) * g.outW + ow) * c
                        let h0 = oh * g.strideH - g.padTop, w0 = ow * g.strideW - g.padLeft
                        let count = th.count * tw.count
                        let scale: Float = isMax || count == 0 ? 0 : 1 / Float(count)
                        // Vectors of 16 channels; with 16 or more channels a partial last vector is
                        // the last 16, overlapping the one before (the same results written twice).
                        let vectors = c >= lanes ? (c + lanes - 1) / lanes : 0
                        for v in 0..<vectors {
                            let ch = Swift.min(v * lanes, c - lanes)
                            var acc = SIMD16<Float>(repeating: isMax ? -.infinity : 0)
                            // Wrapping index arithmetic: the taps are inside the input, whose
                            // size the lowering checked (the overflow checks were a third of
                            // max pooling's instructions).
                            for i in th.first..<th.end {
                                let row = image + ((h0 &+ i &* g.dilationH) &* g.inW &* c &+ ch)
                                for j in tw.first..<tw.end {
                                    let v = FloatVector.load(row + (w0 &+ j &* g.dilationW) &* c).v
                                    if isMax { acc.replace(with: v, where: v .> acc) } else { acc += v }
                                }
                            }
                            FloatVector(isMax ? acc : acc * scale).store(o + ch)
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
    }
}
