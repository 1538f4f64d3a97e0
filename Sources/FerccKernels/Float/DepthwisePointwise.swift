// fercc-kernel requires: Float/Conv2D.swift Float/DepthwiseConv2D.swift

extension Kernels {
    /// A depthwise convolution feeding a 1x1 convolution, fused: a band of depthwise output rows is
    /// computed into a small buffer (96 KB: measured a little faster than 24-48 KB on MobileNetV2;
    /// it stays in L2) and immediately multiplied by the 1x1
    /// weights, so the full intermediate tensor is never written. The 1x1 convolution over a band is
    /// the same microkernel as Conv2DKernel, run on the band's pixels as one long row.
    public struct DepthwisePointwiseKernel {
        public let depthwise: DepthwiseConv2DKernel
        let bandRows: Int
        let fullBand: Conv2DKernel
        let tailBand: Conv2DKernel?
        let outChannels: Int

        /// From weights already packed (packConvolutionWeights of the depthwise geometry and of
        /// `pointwiseGeometry`) and the biases, all read in place.
        @inline(never)
        public init(
            depthwise g: Conv2DGeometry, packedDepthwise: UnsafePointer<Float>, depthwiseBias: UnsafePointer<Float>,
            depthwiseActivation: Activation = .identity, packedPointwise: UnsafePointer<Float>,
            pointwiseBias: UnsafePointer<Float>,
            outChannels: Int, pointwiseActivation: Activation = .identity, bandBytes: Int = 96 * 1024
        ) {
            depthwise = DepthwiseConv2DKernel(
                geometry: g, packed: packedDepthwise, bias: depthwiseBias, activation: depthwiseActivation)
            self.outChannels = outChannels
            let rows = max(1, min(g.outH, bandBytes / max(1, g.outW * g.outC * 4)))
            bandRows = rows
            fullBand = Conv2DKernel(
                geometry: Self.pointwiseGeometry(g, rows: rows, outChannels: outChannels), packed: packedPointwise,
                bias: pointwiseBias, activation: pointwiseActivation)
            let tail = g.outH % rows
            tailBand =
                tail > 0
                ? Conv2DKernel(
                    geometry: Self.pointwiseGeometry(g, rows: tail, outChannels: outChannels), packed: packedPointwise,
                    bias: pointwiseBias, activation: pointwiseActivation) : nil
        }

        /// The 1x1 convolution over a band of `rows` depthwise output rows, as one long row of pixels.
        public static func pointwiseGeometry(_ g: Conv2DGeometry, rows: Int, outChannels: Int) -> Conv2DGeometry {
            Conv2DGeometry(
                input: (1, 1, rows * g.outW, g.outC), output: (1, rows * g.outW, outChannels), kernel: (1, 1))
        }

        /// Scratch floats: the depthwise kernel's (padded copies of the input its pixels at the
        /// padding read) plus one band of depthwise output.
        public var scratchCount: Int {
            depthwiseScratchFloats + bandRows * depthwise.geometry.outW * depthwise.geometry.outC
        }

        /// Floats of scratch before the band: AArch64's padded rows of one band, elsewhere the
        /// depthwise kernel's padded copies of the parts of a row at the padding.
        var depthwiseScratchFloats: Int {
            #if arch(arm64)
            depthwise.paddedRows(for: 0..<bandRows).count * depthwise.geometry.paddedW * depthwise.geometry.inC
            #else
            Kernels.DepthwiseConv2DKernel.inPlaceScratchCount(depthwise.geometry)
            #endif
        }

        /// `run` with the two convolutions' clamps as type arguments (`NoClamp` for none) and what
        /// runs over each band of output once it is written (`NoEpilogue`, or `ResidualAdd`).
        public func run<D: VectorClamp, P: VectorClamp, E: BandEpilogue>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
            scratch: UnsafeMutablePointer<Float>, depthwiseClamp: D, pointwiseClamp: P, epilogue: E
        ) {
            let g = depthwise.geometry
            let band = scratch + depthwiseScratchFloats
            for n in 0..<g.batch {
                var r0 = 0
                while r0 < g.outH {
                    let rows = r0..<min(g.outH, r0 + bandRows)
                    #if arch(arm64)
                    // The band's padded input rows, copied next to it in cache: on AArch64 the
                    // in-place rows' three parts cost more instructions than the copy (decision 42).
                    let padded = depthwise.paddedRows(for: rows)
                    depthwise.padRows(input, image: n, padded: padded, into: scratch)
                    depthwise.computeRows(
                        block: scratch, blockFirstRow: padded.lowerBound, rows: rows, output: band,
                        clamp: depthwiseClamp)
                    #else
                    depthwise.computeRows(
                        input: input, image: n, rows: rows, output: band, scratch: scratch, clamp: depthwiseClamp)
                    #endif
                    pointwise(
                        band: band, rows: rows.count, firstPixel: (n * g.outH + r0) * g.outW, output: output,
                        pointwiseClamp, epilogue)
                    r0 = rows.upperBound
                }
            }
        }

        /// Output rows `rows` (at most bandRows) of one image, from `block` (its padded input from
        /// padded row `blockFirstRow` on) through `band` (scratch for the depthwise rows) to the
        /// output's pixels from `firstPixel` (over the batch) on, then the epilogue over them.
        func runBand<D: VectorClamp, P: VectorClamp, E: BandEpilogue>(
            block: UnsafePointer<Float>, blockFirstRow: Int, rows: Range<Int>, band: UnsafeMutablePointer<Float>,
            firstPixel: Int, output: UnsafeMutablePointer<Float>, _ d: D, _ p: P, _ e: E
        ) {
            depthwise.computeRows(block: block, blockFirstRow: blockFirstRow, rows: rows, output: band, clamp: d)
            pointwise(band: band, rows: rows.count, firstPixel: firstPixel, output: output, p, e)
        }

        /// The 1x1 convolution of `rows` depthwise output rows in `band` (at most bandRows) to the
        /// output's pixels from `firstPixel` (over the batch) on, then the epilogue over them.
        @inline(__always)
        func pointwise<P: VectorClamp, E: BandEpilogue>(
            band: UnsafeMutablePointer<Float>, rows: Int, firstPixel: Int, output: UnsafeMutablePointer<Float>,
            _ p: P, _ e: E
        ) {
            let kernel = rows == bandRows ? fullBand : tailBand!
            e.convolve(kernel, band: band, output: output + firstPixel * outChannels, firstPixel: firstPixel, clamp: p)
        }
    }

    /// What the fused convolutions run over each band of their output once it is written, while
    /// it is in cache.
    public protocol BandEpilogue {
        /// `pixels` pixels of `channels` at `output`, the output's pixels from `firstPixel` on.
        func run(_ output: UnsafeMutablePointer<Float>, firstPixel: Int, pixels: Int, channels: Int)
        /// The 1x1 `kernel` (one image, no padding) over `band` into `output`, the output's pixels
        /// from `firstPixel` on, with its clamp `clamp`, then this epilogue (`run` after the
        /// kernel, or inside its stores).
        func convolve<P: VectorClamp>(
            _ kernel: Conv2DKernel, band: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
            firstPixel: Int, clamp: P)
    }

    public struct NoEpilogue: BandEpilogue {
        public init() {}
        @inline(__always) public func run(_: UnsafeMutablePointer<Float>, firstPixel: Int, pixels: Int, channels: Int) {
        }
        @inline(__always)
        public func convolve<P: VectorClamp>(
            _ kernel: Conv2DKernel, band: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
            firstPixel: Int, clamp: P
        ) {
            kernel.run(input: band, output: output, scratch: band, clamp: clamp)
        }
    }
}
