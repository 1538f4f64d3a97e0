/// A depthwise convolution feeding a 1x1 convolution, fused: a band of depthwise output rows is
/// computed into a small buffer (96 KB: measured a little faster than 24-48 KB on MobileNetV2;
/// it stays in L2) and immediately multiplied by the 1x1
/// weights, so the full intermediate tensor is never written. The 1x1 convolution over a band is
/// the same microkernel as Conv2DKernel, run on the band's pixels as one long row.
public struct DepthwisePointwiseKernel: Sendable {
    public let depthwise: DepthwiseConv2DKernel
    let depthwiseActivation: Activation
    let pointwiseActivation: Activation
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
        depthwise = DepthwiseConv2DKernel(geometry: g, packed: packedDepthwise, bias: depthwiseBias)
        self.depthwiseActivation = depthwiseActivation
        self.pointwiseActivation = pointwiseActivation
        self.outChannels = outChannels
        let rows = max(1, min(g.outH, bandBytes / max(1, g.outW * g.outC * 4)))
        bandRows = rows
        fullBand = Conv2DKernel(geometry: Self.pointwiseGeometry(g, rows: rows, outChannels: outChannels), packed: packedPointwise, bias: pointwiseBias)
        let tail = g.outH % rows
        tailBand = tail > 0 ? Conv2DKernel(geometry: Self.pointwiseGeometry(g, rows: tail, outChannels: outChannels), packed: packedPointwise, bias: pointwiseBias) : nil
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
        let rowFloats = g.outW * g.outC
        for n in 0..<g.batch {
            var r0 = 0
            while r0 < g.outH {
                let rows = min(bandRows, g.outH - r0)
                // Only the padded input rows this band reads, built next to it in cache.
                let padded = depthwise.paddedRows(for: r0..<(r0 + rows))
                depthwise.padRows(input, image: n, padded: padded, into: block)
                depthwise.computeRows(block: block, blockFirstRow: padded.lowerBound, rows: r0..<(r0 + rows), output: band)
                if depthwiseActivation != .identity {
                    depthwiseActivation.run(band, band, count: rows * rowFloats)
                }
                let out = output + ((n * g.outH + r0) * g.outW) * outChannels
                let kernel = rows == bandRows ? fullBand : tailBand!
                kernel.run(input: band, output: out, scratch: band)
                if pointwiseActivation != .identity {
                    pointwiseActivation.run(out, out, count: rows * g.outW * outChannels)
                }
                r0 += rows
            }
        }
    }
}
