/// Geometry of a 2-D convolution or pooling window over an NHWC tensor.
public struct Conv2DGeometry: Equatable, Sendable {
    public var batch: Int, inH: Int, inW: Int, inC: Int
    public var outH: Int, outW: Int, outC: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var groups: Int

    public init(batch: Int, inH: Int, inW: Int, inC: Int, outH: Int, outW: Int, outC: Int,
                kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, dilationH: Int, dilationW: Int,
                padTop: Int, padLeft: Int, padBottom: Int, padRight: Int, groups: Int) {
        self.batch = batch; self.inH = inH; self.inW = inW; self.inC = inC
        self.outH = outH; self.outW = outW; self.outC = outC
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.groups = groups
    }

    public var paddedH: Int { inH + padTop + padBottom }
    public var paddedW: Int { inW + padLeft + padRight }
    public var hasPadding: Bool { padTop != 0 || padLeft != 0 || padBottom != 0 || padRight != 0 }
    public var inputChannelsPerGroup: Int { inC / groups }
    public var outputChannelsPerGroup: Int { outC / groups }
    public var isDepthwise: Bool { inputChannelsPerGroup == 1 && outputChannelsPerGroup == 1 }
}

/// Copies an NHWC tensor into the middle of a larger zero-filled (or `fill`-filled) one, so that
/// window loops need no bounds checks.
public func padNHWC(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                    batch: Int, h: Int, w: Int, c: Int,
                    top: Int, left: Int, bottom: Int, right: Int, fill: Float) {
    let ph = h + top + bottom, pw = w + left + right
    dst.update(repeating: fill, count: batch * ph * pw * c)
    for n in 0..<batch {
        for y in 0..<h {
            let s = src + ((n * h + y) * w) * c
            let d = dst + ((n * ph + y + top) * pw + left) * c
            d.update(from: s, count: w * c)
        }
    }
}

/// Convolution of an NHWC tensor (regular and grouped; depthwise goes to DepthwiseConv2DKernel).
/// Weights are packed once into blocks of 16 output channels laid out as [group][block][kh][kw][ci][16],
/// and a register-blocked microkernel computes 6 output pixels x 16 channels at a time, then 4,
/// then 1 for the row's tail. Six is what fits: swiftc emits SIMD16<Float> as two 256-bit
/// registers even on AVX-512 hosts, and 6 x 2 accumulators + 2 weight registers + 1 broadcast
/// fill the 16 ymm registers (8 pixels spilled to the stack: 21 vs 33 GMAC/s measured).
public struct Conv2DKernel: Sendable {
    public let geometry: Conv2DGeometry
    let packed: [Float]
    let bias: [Float]
    let blocksPerGroup: Int
    /// ReLU / clip applied to the accumulators before they are stored.
    let clamp: OutputClamp?
    /// Any other activation, applied to each output row once it is complete.
    let rowActivation: Activation?
    static let lanes = 16

    /// weights: OHWI [outC, kh, kw, inC/groups]; bias: [outC] or empty.
    public init(geometry g: Conv2DGeometry, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, activation: Activation = .identity) {
        let p = Self.pack(geometry: g, weights: weights)
        self = p.withUnsafeBufferPointer { Conv2DKernel(geometry: g, packed: $0, bias: bias, activation: activation) }
    }

    /// From weights already in the packed layout (`pack`), as generated code stores them.
    public init(geometry g: Conv2DGeometry, packed: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, activation: Activation = .identity) {
        geometry = g
        blocksPerGroup = (g.outputChannelsPerGroup + Self.lanes - 1) / Self.lanes
        self.packed = Array(packed)
        self.bias = bias.map { Array($0) } ?? [Float](repeating: 0, count: g.outC)
        clamp = OutputClamp(activation)
        rowActivation = clamp == nil && activation != .identity ? activation : nil
    }

    /// OHWI weights in the kernel's layout: [group][block of 16 output channels][kh][kw][ci][16].
    public static func pack(geometry g: Conv2DGeometry, weights: UnsafeBufferPointer<Float>) -> [Float] {
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        let blocks = (cog + lanes - 1) / lanes
        let taps = g.kernelH * g.kernelW * cig
        var p = [Float](repeating: 0, count: g.groups * blocks * taps * lanes)
        for grp in 0..<g.groups {
            for b in 0..<blocks {
                let base = (grp * blocks + b) * taps * lanes
                for l in 0..<lanes {
                    let co = b * lanes + l
                    guard co < cog else { continue }
                    let o = grp * cog + co
                    for t in 0..<taps {
                        p[base + t * lanes + l] = weights[o * taps + t]
                    }
                }
            }
        }
        return p
    }

    /// Floats of scratch memory `run` needs (the padded input).
    public var scratchCount: Int {
        geometry.hasPadding ? geometry.batch * geometry.paddedH * geometry.paddedW * geometry.inC : 0
    }

    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry
        var src = input
        if g.hasPadding {
            padNHWC(input, scratch, batch: g.batch, h: g.inH, w: g.inW, c: g.inC,
                    top: g.padTop, left: g.padLeft, bottom: g.padBottom, right: g.padRight, fill: 0)
            src = UnsafePointer(scratch)
        }
        switch clamp {
        case nil: compute(src, output, NoClamp())
        case .relu?: compute(src, output, ReluClamp())
        case .clip(let lo, let hi)?: compute(src, output, ClipClamp(low: lo, high: hi))
        }
    }

    /// The convolution of the padded input `src`, specialized for each kind of clamp.
    private func compute<C: VectorClamp>(_ src: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ clamp: C) {
        let g = geometry
        let pw = g.paddedW, ph = g.paddedH
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        let taps = g.kernelH * g.kernelW * cig
        packed.withUnsafeBufferPointer { wbuf in
            bias.withUnsafeBufferPointer { bbuf in
                let w0 = wbuf.baseAddress!, b0 = bbuf.baseAddress!
                for n in 0..<g.batch {
                    let image = src + n * ph * pw * g.inC
                    for oh in 0..<g.outH {
                        let outRow = output + ((n * g.outH + oh) * g.outW) * g.outC
                        let inRow = image + oh * g.strideH * pw * g.inC
                        for grp in 0..<g.groups {
                            for blk in 0..<blocksPerGroup {
                                let co0 = blk * Self.lanes
                                let valid = min(Self.lanes, cog - co0)
                                let wBlock = w0 + (grp * blocksPerGroup + blk) * taps * Self.lanes
                                let bBlock = b0 + grp * cog + co0
                                let biasV = valid == Self.lanes ? loadVector(bBlock) : loadLanes(bBlock, valid)
                                var ow = 0
                                let step = g.strideW * g.inC
                                while ow + 6 <= g.outW {
                                    var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV, a4 = biasV, a5 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        let rowBase = inRow + kh * g.dilationH * pw * g.inC + grp * cig
                                        for kw in 0..<g.kernelW {
                                            let x0 = rowBase + (ow * g.strideW + kw * g.dilationW) * g.inC
                                            for ci in 0..<cig {
                                                let wv = loadVector(wp)
                                                wp += Self.lanes
                                                let x = x0 + ci
                                                a0 = multiplyAdd(a0, FloatVector(repeating: x[0]), wv)
                                                a1 = multiplyAdd(a1, FloatVector(repeating: x[step]), wv)
                                                a2 = multiplyAdd(a2, FloatVector(repeating: x[2 * step]), wv)
                                                a3 = multiplyAdd(a3, FloatVector(repeating: x[3 * step]), wv)
                                                a4 = multiplyAdd(a4, FloatVector(repeating: x[4 * step]), wv)
                                                a5 = multiplyAdd(a5, FloatVector(repeating: x[5 * step]), wv)
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0); a1 = clamp.apply(a1); a2 = clamp.apply(a2)
                                    a3 = clamp.apply(a3); a4 = clamp.apply(a4); a5 = clamp.apply(a5)
                                    let o = outRow + ow * g.outC + grp * cog + co0
                                    if valid == Self.lanes {
                                        storeVector(a0, o); storeVector(a1, o + g.outC); storeVector(a2, o + 2 * g.outC); storeVector(a3, o + 3 * g.outC)
                                        storeVector(a4, o + 4 * g.outC); storeVector(a5, o + 5 * g.outC)
                                    } else {
                                        storeLanes(a0, o, valid); storeLanes(a1, o + g.outC, valid)
                                        storeLanes(a2, o + 2 * g.outC, valid); storeLanes(a3, o + 3 * g.outC, valid)
                                        storeLanes(a4, o + 4 * g.outC, valid); storeLanes(a5, o + 5 * g.outC, valid)
                                    }
                                    ow += 6
                                }
                                while ow + 4 <= g.outW {
                                    var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        let rowBase = inRow + kh * g.dilationH * pw * g.inC + grp * cig
                                        for kw in 0..<g.kernelW {
                                            let x0 = rowBase + (ow * g.strideW + kw * g.dilationW) * g.inC
                                            let x1 = x0 + step, x2 = x1 + step, x3 = x2 + step
                                            for ci in 0..<cig {
                                                let wv = loadVector(wp)
                                                wp += Self.lanes
                                                a0 = multiplyAdd(a0, FloatVector(repeating: x0[ci]), wv)
                                                a1 = multiplyAdd(a1, FloatVector(repeating: x1[ci]), wv)
                                                a2 = multiplyAdd(a2, FloatVector(repeating: x2[ci]), wv)
                                                a3 = multiplyAdd(a3, FloatVector(repeating: x3[ci]), wv)
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0); a1 = clamp.apply(a1); a2 = clamp.apply(a2); a3 = clamp.apply(a3)
                                    let o = outRow + ow * g.outC + grp * cog + co0
                                    if valid == Self.lanes {
                                        storeVector(a0, o); storeVector(a1, o + g.outC)
                                        storeVector(a2, o + 2 * g.outC); storeVector(a3, o + 3 * g.outC)
                                    } else {
                                        storeLanes(a0, o, valid); storeLanes(a1, o + g.outC, valid)
                                        storeLanes(a2, o + 2 * g.outC, valid); storeLanes(a3, o + 3 * g.outC, valid)
                                    }
                                    ow += 4
                                }
                                while ow < g.outW {
                                    // One accumulator, summed in the same order as in the wider
                                    // tiles: a pixel's value does not depend on which tile it fell
                                    // in, so fused kernels (whose bands tile pixels differently)
                                    // give the unfused kernels' bits. (Two accumulators made a
                                    // 3x3x128 head on a 3x3 map 2x faster, but broke that.)
                                    var a0 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        let rowBase = inRow + kh * g.dilationH * pw * g.inC + grp * cig
                                        for kw in 0..<g.kernelW {
                                            let x0 = rowBase + (ow * g.strideW + kw * g.dilationW) * g.inC
                                            for ci in 0..<cig {
                                                a0 = multiplyAdd(a0, FloatVector(repeating: x0[ci]), loadVector(wp))
                                                wp += Self.lanes
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0)
                                    let o = outRow + ow * g.outC + grp * cog + co0
                                    if valid == Self.lanes { storeVector(a0, o) } else { storeLanes(a0, o, valid) }
                                    ow += 1
                                }
                            }
                        }
                        if let a = rowActivation { a.run(outRow, outRow, count: g.outW * g.outC) }
                    }
                }
            }
        }
    }
}
