// fercc-kernel requires: Float/DepthwisePointwise.swift

extension Kernels {
    /// MobileNetV2's inverted residual (and ShuffleNetV2's branch): a 1x1 expansion convolution
    /// feeding a depthwise convolution feeding a 1x1 projection, fused. The expanded tensor (6x the
    /// block's channels in MobileNetV2, 4.8 MB in its second block) never exists whole: each band of
    /// output rows expands only the input rows its depthwise window adds, straight into a padded
    /// block of rows that stays in L2; the rows the next band shares with this one are moved to the
    /// block's front instead of being computed twice. Same arithmetic as the three kernels in turn.
    ///
    /// A band's new rows are expanded in one call, pixels numbered across rows, each row written
    /// into its padded block row (`outputRowPitch`). On x86 the tiles span rows: rows of 7 and 14
    /// pixels, one at a time, left 1 or 2 pixels to each row's end, computed at a fraction of the
    /// tiles' rate, and reread the expansion's weights for every row. AArch64's tiles are seven
    /// pixels wide, which MobileNetV2's rows (7 to 112) divide: there the call runs row by row.
    public struct ExpandDepthwisePointwiseKernel {
        /// The 1x1 expansion, over the input's rows into the padded block's.
        let expand: Conv2DKernel
        public let inner: DepthwisePointwiseKernel
        let blockRows: Int

        /// From weights already packed: `expand` = packConvolutionWeights of `expandGeometry`, the other
        /// two as for DepthwisePointwiseKernel. `depthwise` is the depthwise geometry (its input is
        /// the expanded tensor).
        @inline(never)
        public init(
            expandChannelsFrom inC: Int, packedExpand: UnsafePointer<Float>, expandBias: UnsafePointer<Float>,
            expandActivation: Activation = .identity,
            depthwise g: Conv2DGeometry, packedDepthwise: UnsafePointer<Float>, depthwiseBias: UnsafePointer<Float>,
            depthwiseActivation: Activation = .identity,
            packedPointwise: UnsafePointer<Float>, pointwiseBias: UnsafePointer<Float>, outChannels: Int,
            pointwiseActivation: Activation = .identity,
            blockBytes: Int = 384 * 1024
        ) {
            expand = Conv2DKernel(
                geometry: Self.expandGeometry(depthwise: g, inChannels: inC, rows: g.inH), packed: packedExpand,
                bias: expandBias, activation: expandActivation, outputRowPitch: g.paddedW)
            // Output rows per band: as many as keep the padded block of expanded rows near blockBytes.
            let rowBytes = g.paddedW * g.inC * 4
            let window = g.spanH
            let rows = max(1, min(g.outH, (max(1, blockBytes / rowBytes) - window) / g.strideH + 1))
            inner = DepthwisePointwiseKernel(
                depthwise: g, packedDepthwise: packedDepthwise, depthwiseBias: depthwiseBias,
                depthwiseActivation: depthwiseActivation,
                packedPointwise: packedPointwise, pointwiseBias: pointwiseBias, outChannels: outChannels,
                pointwiseActivation: pointwiseActivation, bandBytes: rows * g.outW * g.outC * 4)
            blockRows = inner.depthwise.paddedRows(for: 0..<inner.bandRows).count
        }

        /// The 1x1 expansion over `rows` rows of one image: with one row, the geometry its weights
        /// are packed for (a 1x1 convolution's packing does not depend on the rows it runs over).
        public static func expandGeometry(depthwise g: Conv2DGeometry, inChannels: Int, rows: Int = 1)
            -> Conv2DGeometry
        {
            Conv2DGeometry(input: (1, rows, g.inW, inChannels), output: (rows, g.inW, g.inC), kernel: (1, 1))
        }

        var blockFloats: Int { blockRows * inner.depthwise.geometry.paddedW * inner.depthwise.geometry.inC }

        /// Scratch floats: the padded block of expanded rows plus one band of depthwise output.
        public var scratchCount: Int {
            blockFloats + inner.bandRows * inner.depthwise.geometry.outW * inner.depthwise.geometry.outC
        }

        /// `run` with the three convolutions' clamps as type arguments (`NoClamp` for none) and what
        /// runs over each band of output once it is written (`NoEpilogue`, or `ResidualAdd`).
        public func run<E: VectorClamp, D: VectorClamp, P: VectorClamp, B: BandEpilogue>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
            expandClamp: E, depthwiseClamp: D, pointwiseClamp: P, epilogue: B
        ) {
            let g = inner.depthwise.geometry
            let e = g.inC, inC = expand.geometry.inC
            let rowFloats = g.paddedW * e
            let block = scratch, band = scratch + blockFloats
            for n in 0..<g.batch {
                var have = 0..<0  // padded rows now in the block, from its first row
                var r0 = 0
                while r0 < g.outH {
                    let rows = min(inner.bandRows, g.outH - r0)
                    let need = inner.depthwise.paddedRows(for: r0..<(r0 + rows))
                    // Rows shared with the previous band move to the front (ascending copy: the
                    // regions may overlap, the source is always after the destination).
                    let keep = max(need.lowerBound, have.lowerBound)..<min(need.upperBound, have.upperBound)
                    if !keep.isEmpty && keep.lowerBound > have.lowerBound {
                        let src = block + (keep.lowerBound - have.lowerBound) * rowFloats
                        for i in 0..<(keep.count * rowFloats) { block[i] = src[i] }
                    }
                    let first = keep.isEmpty ? need.lowerBound : keep.upperBound
                    for p in first..<need.upperBound {
                        let dst = block + (p - need.lowerBound) * rowFloats
                        let y = p - g.padTop
                        if y < 0 || y >= g.inH {
                            dst.update(repeating: 0, count: rowFloats)
                            continue
                        }
                        dst.update(repeating: 0, count: g.padLeft * e)
                        (dst + (g.padLeft + g.inW) * e).update(repeating: 0, count: g.padRight * e)
                    }
                    // The new rows inside the input, in one call.
                    let y0 = max(first - g.padTop, 0), y1 = min(need.upperBound - g.padTop, g.inH)
                    if y0 < y1 {
                        expand.run(
                            input: input + ((n * g.inH + y0) * g.inW) * inC,
                            output: block + (y0 + g.padTop - need.lowerBound) * rowFloats + g.padLeft * e,
                            pixels: 0..<((y1 - y0) * g.inW), clamp: expandClamp)
                    }
                    have = need
                    inner.runBand(
                        block: block, blockFirstRow: need.lowerBound, rows: r0..<(r0 + rows), band: band,
                        firstPixel: (n * g.outH + r0) * g.outW, output: output, depthwiseClamp, pointwiseClamp, epilogue
                    )
                    r0 += rows
                }
            }
        }
    }
}
