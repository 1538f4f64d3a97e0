// fercc-kernel requires: Int8/QuantizedDenseConv2D.swift Int8/QuantizedDepthwiseConv2D.swift Common/ISA.swift

extension Kernels {
    /// An int8 depthwise convolution feeding a 1x1 convolution (DepthwisePointwise in int8 graphs):
    /// exactly the integers of the two kernels run one after the other. AVX2 builds compute it in
    /// bands of output rows, so the int8 intermediate is only ever a few rows (about 16 KB, in
    /// cache) instead of a whole tensor written and read back; portable builds run the two kernels
    /// whole, through the scratch.
    public struct QuantizedDepthwisePointwiseKernel {
        public let depthwise: QuantizedDepthwiseConv2DKernel
        public let pointwise: QuantizedDenseConv2DKernel
        let bandRows: Int

        public init(depthwise: QuantizedDepthwiseConv2DKernel, pointwise: QuantizedDenseConv2DKernel) {
            self.depthwise = depthwise
            self.pointwise = pointwise
            let g = depthwise.geometry
            // About 16 KB of intermediate per band, but at least 64 pixels (a pointwise chunk of 48 or more).
            bandRows = Swift.max(
                1, Swift.min(g.outH, Swift.max((64 + g.outW - 1) / g.outW, 16384 / Swift.max(1, g.outW * g.outC))))
        }

        static func rounded64(_ n: Int) -> Int { (n + 63) / 64 * 64 }
        var banded: Bool {
            quantizedKernelsUseAVX2 && depthwise.geometry.batch == 1
        }

        /// Bytes of a band's copy for the pointwise kernel: int16 (`DenseRunsAVX2`), or in AVX-512
        /// builds unsigned bytes with channels rounded up to quads.
        var wideBytes: Int {
            let pixels = bandRows * depthwise.geometry.outW
            return Swift.max(
                DenseRunsAVX2(pointwise.geometry).copyCount(pixels: pixels) * 2,
                pixels * ((pointwise.geometry.inC + 3) / 4 * 4))
        }

        /// Bytes of scratch `run` needs.
        public var scratchBytes: Int {
            let g = depthwise.geometry
            if banded {
                let band = bandRows * g.outW * g.outC
                return Self.rounded64(depthwise.scratchBytes) + Self.rounded64(band) + wideBytes
            }
            return Self.rounded64(depthwise.scratchBytes) + Self.rounded64(g.batch * g.outH * g.outW * g.outC)
                + pointwise.scratchBytes
        }

        public func run(
            input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer
        ) {
            let g = depthwise.geometry
            let midOffset = Self.rounded64(depthwise.scratchBytes)
            #if arch(x86_64) && FERCC_AVX2
            if banded {
                runBands(input: input, output: output, scratch: scratch)
                return
            }
            #endif
            let mid = (scratch + midOffset).bindMemory(to: Int8.self, capacity: g.batch * g.outH * g.outW * g.outC)
            depthwise.run(input: input, output: mid, scratch: scratch)
            pointwise.run(
                input: mid, output: output,
                scratch: scratch + midOffset + Self.rounded64(g.batch * g.outH * g.outW * g.outC))
        }

        #if arch(x86_64) && FERCC_AVX2
        func runBands(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer)
        {
            let g = depthwise.geometry
            // The depthwise input, padded once for all bands.
            let x: UnsafePointer<Int8>, ph: Int, pw: Int
            switch depthwise.variant {
            case .avx2(let k): (x, ph, pw) = k.padded(input, scratch)
            #if FERCC_AVX512
            case .avx512(let k): (x, ph, pw) = k.padded(input, scratch)
            #endif
            default: preconditionFailure("banded only with a vector depthwise variant")
            }
            let bandStart = scratch + Self.rounded64(depthwise.scratchBytes)
            let band = bandStart.bindMemory(to: Int8.self, capacity: bandRows * g.outW * g.outC)
            let wide = bandStart + Self.rounded64(bandRows * g.outW * g.outC)
            #if FERCC_AVX512
            // When the pointwise kernel is VNNI (and unpadded), the depthwise bytes stored flipped
            // in its pixels (`channelStride` bytes: `outC` rounded up to 4) are its input: no copy
            // of each band (3% of MobileNetV2's time, 1.4% of ShuffleNetV2's 58-channel stage).
            // The bytes past `outC` meet zero weights. The two kernels are used where the
            // `case`s bind them: held in a variable they were copied, their arrays retained, on
            // every call (138 of the 190 retains of a mini-Xception inference).
            if case .avx512(let k) = depthwise.variant, case .vnni(let kp) = pointwise.variant,
                kp.channelStride <= (g.outC + 31) / 32 * 32, !pointwise.geometry.hasPadding
            {
                forEachBand(output) { r0, rows, pg, out in
                    let flipped = wide.bindMemory(to: UInt8.self, capacity: rows * g.outW * kp.channelStride)
                    k.runPadded(
                        x, paddedH: ph, paddedW: pw,
                        output: UnsafeMutableRawPointer(flipped).assumingMemoryBound(to: Int8.self),
                        outStride: kp.channelStride, rows: r0..<(r0 + rows), flip: true)
                    kp.runFlipped(flipped, paddedH: rows, paddedW: pg.inW, pg, output: out)
                }
                return
            }
            #endif
            forEachBand(output) { r0, rows, pg, out in
                switch depthwise.variant {
                case .avx2(let k): k.runPadded(x, paddedH: ph, paddedW: pw, output: band, rows: r0..<(r0 + rows))
                #if FERCC_AVX512
                case .avx512(let k): k.runPadded(x, paddedH: ph, paddedW: pw, output: band, rows: r0..<(r0 + rows))
                #endif
                default: break
                }
                switch pointwise.variant {
                #if FERCC_AVX512
                case .vnni(let k):
                    let c4 = k.channelStride
                    let flipped = wide.bindMemory(to: UInt8.self, capacity: bandRows * g.outW * c4)
                    flipPaddedVNNI(
                        band, pg, channelStride: c4, fill: UInt8(truncatingIfNeeded: pointwise.inputZeroPoint) ^ 0x80,
                        flipped)
                    k.runFlipped(flipped, paddedH: rows, paddedW: pg.inW, pg, output: out)
                #endif
                case .avx2(let k):
                    let x16 = wide.bindMemory(to: Int16.self, capacity: wideBytes / 2)
                    widenPaddedAVX2(
                        band, pg, channelStride: DenseRunsAVX2(pg).stride, fill: Int16(pointwise.inputZeroPoint), x16)
                    k.runPadded(x16, paddedH: rows, paddedW: pg.inW, pg, output: out)
                default: break
                }
            }
        }

        /// Runs `body` on each band of output rows: its first row, its row count, the pointwise
        /// geometry of its rows, and where its output starts in `output`.
        @inline(__always)
        func forEachBand(
            _ output: UnsafeMutablePointer<Int8>,
            _ body: (_ r0: Int, _ rows: Int, _ pg: Conv2DGeometry, _ out: UnsafeMutablePointer<Int8>) -> Void
        ) {
            var r0 = 0
            while r0 < depthwise.geometry.outH {
                let rows = Swift.min(bandRows, depthwise.geometry.outH - r0)
                var pg = pointwise.geometry
                pg.inH = rows
                pg.outH = rows
                body(r0, rows, pg, output + r0 * pg.outW * pg.outC)
                r0 += rows
            }
        }
        #endif
    }
}
