/// A depthwise convolution feeding a 1x1 convolution, fused: a band of depthwise output rows is
/// computed into a small buffer (96 KB: measured a little faster than 24-48 KB on MobileNetV2;
/// it stays in L2) and immediately multiplied by the 1x1
/// weights, so the full intermediate tensor is never written. The 1x1 convolution over a band is
/// the same microkernel as Conv2DKernel, run on the band's pixels as one long row.
public struct DepthwisePointwiseKernel: Sendable {
    public let depthwise: DepthwiseConv2DKernel
    let bandRows: Int
    let fullBand: Conv2DKernel
    let tailBand: Conv2DKernel?
    let outChannels: Int

    /// `depthwise` geometry as for DepthwiseConv2DKernel; pointwise weights OHWI [outC, 1, 1, C].
    public init(depthwise g: Conv2DGeometry, depthwiseWeights: UnsafeBufferPointer<Float>, depthwiseBias: UnsafeBufferPointer<Float>,
                depthwiseActivation: Activation, pointwiseWeights: UnsafeBufferPointer<Float>, pointwiseBias: UnsafeBufferPointer<Float>,
                outChannels: Int, pointwiseActivation: Activation) {
        let dw = DepthwiseConv2DKernel.pack(geometry: g, weights: depthwiseWeights)
        let pw = Conv2DKernel.pack(geometry: Self.pointwiseGeometry(g, rows: 1, outChannels: outChannels), weights: pointwiseWeights)
        self = dw.withUnsafeBufferPointer { d in pw.withUnsafeBufferPointer { p in
            DepthwisePointwiseKernel(depthwise: g, packedDepthwise: d, depthwiseBias: depthwiseBias, depthwiseActivation: depthwiseActivation,
                                     packedPointwise: p, pointwiseBias: pointwiseBias, outChannels: outChannels, pointwiseActivation: pointwiseActivation)
        } }
    }

    /// From weights already packed (DepthwiseConv2DKernel.pack, and Conv2DKernel.pack of
    /// `pointwiseGeometry`), as generated code stores them.
    public init(depthwise g: Conv2DGeometry, packedDepthwise: UnsafeBufferPointer<Float>, depthwiseBias: UnsafeBufferPointer<Float>,
                depthwiseActivation: Activation, packedPointwise: UnsafeBufferPointer<Float>, pointwiseBias: UnsafeBufferPointer<Float>,
                outChannels: Int, pointwiseActivation: Activation, bandBytes: Int = 96 * 1024) {
        depthwise = DepthwiseConv2DKernel(geometry: g, packed: packedDepthwise, bias: depthwiseBias, activation: depthwiseActivation)
        self.outChannels = outChannels
        let rows = max(1, min(g.outH, bandBytes / max(1, g.outW * g.outC * 4)))
        bandRows = rows
        fullBand = Conv2DKernel(geometry: Self.pointwiseGeometry(g, rows: rows, outChannels: outChannels), packed: packedPointwise, bias: pointwiseBias, activation: pointwiseActivation)
        let tail = g.outH % rows
        tailBand = tail > 0 ? Conv2DKernel(geometry: Self.pointwiseGeometry(g, rows: tail, outChannels: outChannels), packed: packedPointwise, bias: pointwiseBias, activation: pointwiseActivation) : nil
    }

    /// The 1x1 convolution over a band of `rows` depthwise output rows, as one long row of pixels.
    public static func pointwiseGeometry(_ g: Conv2DGeometry, rows: Int, outChannels: Int) -> Conv2DGeometry {
        Conv2DGeometry(batch: 1, inH: 1, inW: rows * g.outW, inC: g.outC, outH: 1, outW: rows * g.outW, outC: outChannels,
                       kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1,
                       padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, groups: 1)
    }

    /// Floats of padded input one band reads.
    var blockFloats: Int { depthwise.paddedRows(for: 0..<bandRows).count * depthwise.geometry.paddedW * depthwise.geometry.inC }

    /// Scratch floats: the padded input rows of one band plus one band of depthwise output.
    public var scratchCount: Int { blockFloats + bandRows * depthwise.geometry.outW * depthwise.geometry.outC }

    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let g = depthwise.geometry
        let block = scratch
        let band = scratch + blockFloats
        for n in 0..<g.batch {
            var r0 = 0
            while r0 < g.outH {
                let rows = min(bandRows, g.outH - r0)
                // Only the padded input rows this band reads, built next to it in cache.
                let padded = depthwise.paddedRows(for: r0..<(r0 + rows))
                depthwise.padRows(input, image: n, padded: padded, into: block)
                runBand(block: block, blockFirstRow: padded.lowerBound, rows: r0..<(r0 + rows), band: band,
                        output: output + ((n * g.outH + r0) * g.outW) * outChannels)
                r0 += rows
            }
        }
    }

    /// Output rows `rows` (at most bandRows) of one image, from `block` (its padded input from
    /// padded row `blockFirstRow` on) through `band` (scratch for the depthwise rows) to `output`.
    func runBand(block: UnsafePointer<Float>, blockFirstRow: Int, rows: Range<Int>, band: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        depthwise.computeRows(block: block, blockFirstRow: blockFirstRow, rows: rows, output: band)
        let kernel = rows.count == bandRows ? fullBand : tailBand!
        kernel.run(input: band, output: output, scratch: band)
    }
}

/// MobileNetV2's inverted residual (and ShuffleNetV2's branch): a 1x1 expansion convolution
/// feeding a depthwise convolution feeding a 1x1 projection, fused. The expanded tensor (6x the
/// block's channels in MobileNetV2, 4.8 MB in its second block) never exists whole: each band of
/// output rows expands only the input rows its depthwise window adds, straight into a padded
/// block of rows that stays in L2; the rows the next band shares with this one are moved to the
/// block's front instead of being computed twice. Same arithmetic as the three kernels in turn.
public struct ExpandDepthwisePointwiseKernel: Sendable {
    /// The 1x1 expansion over one input row, writing the inside of one padded block row.
    let expandRow: Conv2DKernel
    public let inner: DepthwisePointwiseKernel
    let blockRows: Int

    /// From weights already packed: `expand` = Conv2DKernel.pack of `expandGeometry`, the other
    /// two as for DepthwisePointwiseKernel. `depthwise` is the depthwise geometry (its input is
    /// the expanded tensor).
    public init(expandChannelsFrom inC: Int, packedExpand: UnsafeBufferPointer<Float>, expandBias: UnsafeBufferPointer<Float>, expandActivation: Activation,
                depthwise g: Conv2DGeometry, packedDepthwise: UnsafeBufferPointer<Float>, depthwiseBias: UnsafeBufferPointer<Float>, depthwiseActivation: Activation,
                packedPointwise: UnsafeBufferPointer<Float>, pointwiseBias: UnsafeBufferPointer<Float>, outChannels: Int, pointwiseActivation: Activation,
                blockBytes: Int = 384 * 1024) {
        expandRow = Conv2DKernel(geometry: Self.expandGeometry(depthwise: g, inChannels: inC), packed: packedExpand, bias: expandBias, activation: expandActivation)
        // Output rows per band: as many as keep the padded block of expanded rows near blockBytes.
        let rowBytes = g.paddedW * g.inC * 4
        let window = (g.kernelH - 1) * g.dilationH + 1
        let rows = max(1, min(g.outH, (max(1, blockBytes / rowBytes) - window) / g.strideH + 1))
        inner = DepthwisePointwiseKernel(depthwise: g, packedDepthwise: packedDepthwise, depthwiseBias: depthwiseBias, depthwiseActivation: depthwiseActivation,
                                         packedPointwise: packedPointwise, pointwiseBias: pointwiseBias, outChannels: outChannels,
                                         pointwiseActivation: pointwiseActivation, bandBytes: rows * g.outW * g.outC * 4)
        blockRows = inner.depthwise.paddedRows(for: 0..<inner.bandRows).count
    }

    /// From OHWI weights (tests and the interpreter).
    public init(expandWeights: UnsafeBufferPointer<Float>, expandBias: UnsafeBufferPointer<Float>, expandActivation: Activation, inChannels: Int,
                depthwise g: Conv2DGeometry, depthwiseWeights: UnsafeBufferPointer<Float>, depthwiseBias: UnsafeBufferPointer<Float>, depthwiseActivation: Activation,
                pointwiseWeights: UnsafeBufferPointer<Float>, pointwiseBias: UnsafeBufferPointer<Float>, outChannels: Int, pointwiseActivation: Activation,
                blockBytes: Int = 384 * 1024) {
        let e = Conv2DKernel.pack(geometry: Self.expandGeometry(depthwise: g, inChannels: inChannels), weights: expandWeights)
        let d = DepthwiseConv2DKernel.pack(geometry: g, weights: depthwiseWeights)
        let p = Conv2DKernel.pack(geometry: DepthwisePointwiseKernel.pointwiseGeometry(g, rows: 1, outChannels: outChannels), weights: pointwiseWeights)
        self = e.withUnsafeBufferPointer { e in d.withUnsafeBufferPointer { d in p.withUnsafeBufferPointer { p in
            ExpandDepthwisePointwiseKernel(expandChannelsFrom: inChannels, packedExpand: e, expandBias: expandBias, expandActivation: expandActivation,
                                           depthwise: g, packedDepthwise: d, depthwiseBias: depthwiseBias, depthwiseActivation: depthwiseActivation,
                                           packedPointwise: p, pointwiseBias: pointwiseBias, outChannels: outChannels, pointwiseActivation: pointwiseActivation,
                                           blockBytes: blockBytes)
        } } }
    }

    /// The expansion as the kernel runs it: a 1x1 convolution over one input row.
    public static func expandGeometry(depthwise g: Conv2DGeometry, inChannels: Int) -> Conv2DGeometry {
        Conv2DGeometry(batch: 1, inH: 1, inW: g.inW, inC: inChannels, outH: 1, outW: g.inW, outC: g.inC,
                       kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1,
                       padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, groups: 1)
    }

    var blockFloats: Int { blockRows * inner.depthwise.geometry.paddedW * inner.depthwise.geometry.inC }

    /// Scratch floats: the padded block of expanded rows plus one band of depthwise output.
    public var scratchCount: Int { blockFloats + inner.bandRows * inner.depthwise.geometry.outW * inner.depthwise.geometry.outC }

    /// input: [batch, inH, inW, inChannels] NHWC; output: [batch, outH, outW, outChannels].
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let g = inner.depthwise.geometry
        let e = g.inC, inC = expandRow.geometry.inC
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
                    expandRow.run(input: input + ((n * g.inH + y) * g.inW) * inC, output: dst + g.padLeft * e, scratch: dst)
                    (dst + (g.padLeft + g.inW) * e).update(repeating: 0, count: g.padRight * e)
                }
                have = need
                inner.runBand(block: block, blockFirstRow: need.lowerBound, rows: r0..<(r0 + rows), band: band,
                              output: output + ((n * g.outH + r0) * g.outW) * inner.outChannels)
                r0 += rows
            }
        }
    }
}
