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
    fillBorder(dst, batch: batch, h: h, w: w, c: c, top: top, left: left, bottom: bottom, right: right, fill: fill)
    for n in 0..<batch {
        for y in 0..<h {
            (dst + ((n * ph + y + top) * pw + left) * c).update(from: src + ((n * h + y) * w) * c, count: w * c)
        }
    }
}

/// Fills the border of a padded NHWC tensor (`c` elements per pixel): only what a copy of the
/// `h` x `w` inside leaves (filling the whole buffer before the copy was most of a small
/// depthwise layer's time).
func fillBorder<T>(_ dst: UnsafeMutablePointer<T>, batch: Int, h: Int, w: Int, c: Int,
                   top: Int, left: Int, bottom: Int, right: Int, fill: T) {
    let pw = w + left + right
    for n in 0..<batch {
        let image = dst + n * (h + top + bottom) * pw * c
        image.initialize(repeating: fill, count: top * pw * c)
        for y in 0..<h {
            let row = image + (y + top) * pw * c
            row.initialize(repeating: fill, count: left * c)
            (row + (left + w) * c).initialize(repeating: fill, count: right * c)
        }
        (image + (top + h) * pw * c).initialize(repeating: fill, count: bottom * pw * c)
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

    /// Output pixels computed together: every output channel block runs over one chunk of pixels
    /// before the next chunk starts, so a block's weights are read from cache once per 6-pixel
    /// tile of the chunk and stream from memory once per chunk. Pixels are numbered across rows
    /// (a tile may span the end of a row and the start of the next), so only the image's last
    /// pixels fall into the narrower tiles: a 7x7 map runs 8 six-pixel tiles and one single pixel
    /// instead of 7 of each. A multiple of 6 covering about `chunkBytes` of input rows.
    var chunkPixels: Int {
        let g = geometry
        let pixels = g.outH * g.outW
        let rowBytes = max(1, g.strideH * g.paddedW * g.inC * 4)
        let rows = max(1, Self.chunkBytes / rowBytes)
        let wanted = (rows * g.outW + 5) / 6 * 6
        return max(6, min(wanted, (pixels + 5) / 6 * 6))
    }
    static let chunkBytes = 96 * 1024

    /// The convolution of the padded input `src`, specialized for each kind of clamp. Each output
    /// pixel is summed in the same order (bias, then kernel rows, columns and input channels) in
    /// every tile width, so a pixel's value does not depend on the tile it fell in: the fused
    /// kernels, which run this over bands of rows, give the unfused kernels' bits.
    private func compute<C: VectorClamp>(_ src: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ clamp: C) {
        let g = geometry
        let pw = g.paddedW, ph = g.paddedH
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        let taps = g.kernelH * g.kernelW * cig
        let pixels = g.outH * g.outW
        let chunk = chunkPixels
        let rowStep = g.dilationH * pw * g.inC, colStep = g.dilationW * g.inC
        // Without dilation or groups, a kernel row's taps (its columns' channels) are contiguous
        // in the input, in the packed weights' order: one loop over them instead of two (the
        // 7x7 stem over 3 channels, mini-Xception's first layer over 1).
        let contiguousRow = g.dilationW == 1 && g.groups == 1
        let columns = contiguousRow ? 1 : g.kernelW
        let rowTaps = contiguousRow ? g.kernelW * cig : cig
        packed.withUnsafeBufferPointer { wbuf in
            bias.withUnsafeBufferPointer { bbuf in
                let w0 = wbuf.baseAddress!, b0 = bbuf.baseAddress!
                for n in 0..<g.batch {
                    let image = src + n * ph * pw * g.inC
                    let outImage = output + n * pixels * g.outC
                    /// Where output pixel `p`'s window starts in the padded input.
                    @inline(__always) func window(_ p: Int) -> UnsafePointer<Float> {
                        let oh = p / g.outW, ow = p - oh * g.outW
                        return image + (oh * g.strideH * pw + ow * g.strideW) * g.inC
                    }
                    var start = 0
                    while start < pixels {
                        let end = min(pixels, start + chunk)
                        for grp in 0..<g.groups {
                            var blk0 = 0
                            while blk0 < blocksPerGroup {
                                var first = start  // the pixels before `first` are done for the blocks of this step
                                var blkEnd = blk0 + 1
                                #if FERCC_AVX512
                                // Two full blocks (32 channels) per tile where the target has 32 vector registers: 12
                                // accumulators, and each broadcast input feeds two multiply-adds (6 x 16 left the 512-bit
                                // FMA units waiting on their latency: 85 GMAC/s on 3x3 layers).
                                if blk0 + 1 < blocksPerGroup && cog - (blk0 + 1) * Self.lanes >= Self.lanes {
                                    blkEnd = blk0 + 2
                                    let co0 = blk0 * Self.lanes
                                    let wA = w0 + (grp * blocksPerGroup + blk0) * taps * Self.lanes, wB = wA + taps * Self.lanes
                                    let biasA = loadVector(b0 + grp * cog + co0), biasB = loadVector(b0 + grp * cog + co0 + Self.lanes)
                                    let outBlock = outImage + grp * cog + co0
                                    let inGroup = grp * cig
                                    var p = start
                                    while p + 6 <= end {
                                        let x0 = window(p) + inGroup, x1 = window(p + 1) + inGroup, x2 = window(p + 2) + inGroup
                                        let x3 = window(p + 3) + inGroup, x4 = window(p + 4) + inGroup, x5 = window(p + 5) + inGroup
                                        var a0 = biasA, a1 = biasA, a2 = biasA, a3 = biasA, a4 = biasA, a5 = biasA
                                        var c0 = biasB, c1 = biasB, c2 = biasB, c3 = biasB, c4 = biasB, c5 = biasB
                                        var wp = wA, wq = wB
                                        for kh in 0..<g.kernelH {
                                            for kw in 0..<columns {
                                                let off = kh * rowStep + kw * colStep
                                                let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                                                for ci in 0..<rowTaps {
                                                    let wv = loadVector(wp), wu = loadVector(wq)
                                                    wp += Self.lanes; wq += Self.lanes
                                                    let v0 = FloatVector(repeating: y0[ci]); a0 = multiplyAdd(a0, v0, wv); c0 = multiplyAdd(c0, v0, wu)
                                                    let v1 = FloatVector(repeating: y1[ci]); a1 = multiplyAdd(a1, v1, wv); c1 = multiplyAdd(c1, v1, wu)
                                                    let v2 = FloatVector(repeating: y2[ci]); a2 = multiplyAdd(a2, v2, wv); c2 = multiplyAdd(c2, v2, wu)
                                                    let v3 = FloatVector(repeating: y3[ci]); a3 = multiplyAdd(a3, v3, wv); c3 = multiplyAdd(c3, v3, wu)
                                                    let v4 = FloatVector(repeating: y4[ci]); a4 = multiplyAdd(a4, v4, wv); c4 = multiplyAdd(c4, v4, wu)
                                                    let v5 = FloatVector(repeating: y5[ci]); a5 = multiplyAdd(a5, v5, wv); c5 = multiplyAdd(c5, v5, wu)
                                                }
                                            }
                                        }
                                        let o = outBlock + p * g.outC, l = Self.lanes
                                        storeVector(clamp.apply(a0), o); storeVector(clamp.apply(c0), o + l)
                                        storeVector(clamp.apply(a1), o + g.outC); storeVector(clamp.apply(c1), o + g.outC + l)
                                        storeVector(clamp.apply(a2), o + 2 * g.outC); storeVector(clamp.apply(c2), o + 2 * g.outC + l)
                                        storeVector(clamp.apply(a3), o + 3 * g.outC); storeVector(clamp.apply(c3), o + 3 * g.outC + l)
                                        storeVector(clamp.apply(a4), o + 4 * g.outC); storeVector(clamp.apply(c4), o + 4 * g.outC + l)
                                        storeVector(clamp.apply(a5), o + 5 * g.outC); storeVector(clamp.apply(c5), o + 5 * g.outC + l)
                                        p += 6
                                    }
                                    first = p
                                }
                                #endif
                                for blk in blk0..<blkEnd {
                                let co0 = blk * Self.lanes
                                let valid = min(Self.lanes, cog - co0)
                                let wBlock = w0 + (grp * blocksPerGroup + blk) * taps * Self.lanes
                                let bBlock = b0 + grp * cog + co0
                                let biasV = valid == Self.lanes ? loadVector(bBlock) : loadLanes(bBlock, valid)
                                let outBlock = outImage + grp * cog + co0
                                let inGroup = grp * cig
                                var p = first
                                if valid <= 8 {
                                    // Blocks of at most 8 channels (8-channel layers, the last 8
                                    // of 24): 8-lane vectors, so twice the pixels per tile.
                                    let bias8 = biasV.lowHalf
                                    while p + 8 <= end {
                                        let x0 = window(p) + inGroup, x1 = window(p + 1) + inGroup, x2 = window(p + 2) + inGroup, x3 = window(p + 3) + inGroup
                                        let x4 = window(p + 4) + inGroup, x5 = window(p + 5) + inGroup, x6 = window(p + 6) + inGroup, x7 = window(p + 7) + inGroup
                                        var a0 = bias8, a1 = bias8, a2 = bias8, a3 = bias8, a4 = bias8, a5 = bias8, a6 = bias8, a7 = bias8
                                        var wp = wBlock
                                        for kh in 0..<g.kernelH {
                                            for kw in 0..<columns {
                                                let off = kh * rowStep + kw * colStep
                                                let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off
                                                let y4 = x4 + off, y5 = x5 + off, y6 = x6 + off, y7 = x7 + off
                                                for ci in 0..<rowTaps {
                                                    let wv = loadVector8(wp)
                                                    wp += Self.lanes
                                                    a0 = multiplyAdd8(a0, SIMD8(repeating: y0[ci]), wv)
                                                    a1 = multiplyAdd8(a1, SIMD8(repeating: y1[ci]), wv)
                                                    a2 = multiplyAdd8(a2, SIMD8(repeating: y2[ci]), wv)
                                                    a3 = multiplyAdd8(a3, SIMD8(repeating: y3[ci]), wv)
                                                    a4 = multiplyAdd8(a4, SIMD8(repeating: y4[ci]), wv)
                                                    a5 = multiplyAdd8(a5, SIMD8(repeating: y5[ci]), wv)
                                                    a6 = multiplyAdd8(a6, SIMD8(repeating: y6[ci]), wv)
                                                    a7 = multiplyAdd8(a7, SIMD8(repeating: y7[ci]), wv)
                                                }
                                            }
                                        }
                                        let o = outBlock + p * g.outC
                                        storeLanes8(clamp.apply(a0), o, valid); storeLanes8(clamp.apply(a1), o + g.outC, valid)
                                        storeLanes8(clamp.apply(a2), o + 2 * g.outC, valid); storeLanes8(clamp.apply(a3), o + 3 * g.outC, valid)
                                        storeLanes8(clamp.apply(a4), o + 4 * g.outC, valid); storeLanes8(clamp.apply(a5), o + 5 * g.outC, valid)
                                        storeLanes8(clamp.apply(a6), o + 6 * g.outC, valid); storeLanes8(clamp.apply(a7), o + 7 * g.outC, valid)
                                        p += 8
                                    }
                                    while p < end {
                                        let x0 = window(p) + inGroup
                                        var a0 = bias8
                                        var wp = wBlock
                                        for kh in 0..<g.kernelH {
                                            for kw in 0..<columns {
                                                let y0 = x0 + kh * rowStep + kw * colStep
                                                for ci in 0..<rowTaps {
                                                    a0 = multiplyAdd8(a0, SIMD8(repeating: y0[ci]), loadVector8(wp))
                                                    wp += Self.lanes
                                                }
                                            }
                                        }
                                        storeLanes8(clamp.apply(a0), outBlock + p * g.outC, valid)
                                        p += 1
                                    }
                                    continue
                                }
                                while p + 6 <= end {
                                    let x0 = window(p) + inGroup, x1 = window(p + 1) + inGroup, x2 = window(p + 2) + inGroup
                                    let x3 = window(p + 3) + inGroup, x4 = window(p + 4) + inGroup, x5 = window(p + 5) + inGroup
                                    var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV, a4 = biasV, a5 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<columns {
                                            let off = kh * rowStep + kw * colStep
                                            let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                                            for ci in 0..<rowTaps {
                                                let wv = loadVector(wp)
                                                wp += Self.lanes
                                                a0 = multiplyAdd(a0, FloatVector(repeating: y0[ci]), wv)
                                                a1 = multiplyAdd(a1, FloatVector(repeating: y1[ci]), wv)
                                                a2 = multiplyAdd(a2, FloatVector(repeating: y2[ci]), wv)
                                                a3 = multiplyAdd(a3, FloatVector(repeating: y3[ci]), wv)
                                                a4 = multiplyAdd(a4, FloatVector(repeating: y4[ci]), wv)
                                                a5 = multiplyAdd(a5, FloatVector(repeating: y5[ci]), wv)
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0); a1 = clamp.apply(a1); a2 = clamp.apply(a2)
                                    a3 = clamp.apply(a3); a4 = clamp.apply(a4); a5 = clamp.apply(a5)
                                    let o = outBlock + p * g.outC
                                    if valid == Self.lanes {
                                        storeVector(a0, o); storeVector(a1, o + g.outC); storeVector(a2, o + 2 * g.outC); storeVector(a3, o + 3 * g.outC)
                                        storeVector(a4, o + 4 * g.outC); storeVector(a5, o + 5 * g.outC)
                                    } else {
                                        storeLanes(a0, o, valid); storeLanes(a1, o + g.outC, valid)
                                        storeLanes(a2, o + 2 * g.outC, valid); storeLanes(a3, o + 3 * g.outC, valid)
                                        storeLanes(a4, o + 4 * g.outC, valid); storeLanes(a5, o + 5 * g.outC, valid)
                                    }
                                    p += 6
                                }
                                while p + 4 <= end {
                                    let x0 = window(p) + inGroup, x1 = window(p + 1) + inGroup, x2 = window(p + 2) + inGroup, x3 = window(p + 3) + inGroup
                                    var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<columns {
                                            let off = kh * rowStep + kw * colStep
                                            let y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off
                                            for ci in 0..<rowTaps {
                                                let wv = loadVector(wp)
                                                wp += Self.lanes
                                                a0 = multiplyAdd(a0, FloatVector(repeating: y0[ci]), wv)
                                                a1 = multiplyAdd(a1, FloatVector(repeating: y1[ci]), wv)
                                                a2 = multiplyAdd(a2, FloatVector(repeating: y2[ci]), wv)
                                                a3 = multiplyAdd(a3, FloatVector(repeating: y3[ci]), wv)
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0); a1 = clamp.apply(a1); a2 = clamp.apply(a2); a3 = clamp.apply(a3)
                                    let o = outBlock + p * g.outC
                                    if valid == Self.lanes {
                                        storeVector(a0, o); storeVector(a1, o + g.outC)
                                        storeVector(a2, o + 2 * g.outC); storeVector(a3, o + 3 * g.outC)
                                    } else {
                                        storeLanes(a0, o, valid); storeLanes(a1, o + g.outC, valid)
                                        storeLanes(a2, o + 2 * g.outC, valid); storeLanes(a3, o + 3 * g.outC, valid)
                                    }
                                    p += 4
                                }
                                while p < end {
                                    // One accumulator, summed in the wider tiles' order (two
                                    // accumulators would make a pixel's bits depend on its tile).
                                    let x0 = window(p) + inGroup
                                    var a0 = biasV
                                    var wp = wBlock
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<columns {
                                            let y0 = x0 + kh * rowStep + kw * colStep
                                            for ci in 0..<rowTaps {
                                                a0 = multiplyAdd(a0, FloatVector(repeating: y0[ci]), loadVector(wp))
                                                wp += Self.lanes
                                            }
                                        }
                                    }
                                    a0 = clamp.apply(a0)
                                    let o = outBlock + p * g.outC
                                    if valid == Self.lanes { storeVector(a0, o) } else { storeLanes(a0, o, valid) }
                                    p += 1
                                }
                            }
                                blk0 = blkEnd
                            }
                        }
                        if let a = rowActivation { a.run(outImage + start * g.outC, outImage + start * g.outC, count: (end - start) * g.outC) }
                        start = end
                    }
                }
            }
        }
    }
}
