extension Kernels {
    /// Geometry of a 2-D convolution or pooling window over an NHWC tensor.
    public struct Conv2DGeometry: Equatable, Sendable {
        public var batch: Int, inH: Int, inW: Int, inC: Int
        public var outH: Int, outW: Int, outC: Int
        public var kernelH: Int, kernelW: Int
        public var strideH: Int, strideW: Int
        public var dilationH: Int, dilationW: Int
        public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
        public var groups: Int

        /// Input (batch, height, width, channels), output (height, width, channels), then (height,
        /// width) pairs and pads (top, left, bottom, right).
        public init(
            input i: (Int, Int, Int, Int), output o: (Int, Int, Int), kernel k: (Int, Int),
            stride s: (Int, Int) = (1, 1),
            dilation d: (Int, Int) = (1, 1), pads p: (Int, Int, Int, Int) = (0, 0, 0, 0), groups: Int = 1
        ) {
            (batch, inH, inW, inC) = i
            (outH, outW, outC) = o
            (kernelH, kernelW) = k
            (strideH, strideW) = s
            (dilationH, dilationW) = d
            (padTop, padLeft, padBottom, padRight) = p
            self.groups = groups
        }

        public var paddedH: Int { inH + padTop + padBottom }
        public var paddedW: Int { inW + padLeft + padRight }
        public var hasPadding: Bool { padTop != 0 || padLeft != 0 || padBottom != 0 || padRight != 0 }
        /// Floats of the padded input the convolutions materialize (none without padding): their scratch.
        public var paddedInputCount: Int { hasPadding ? batch * paddedH * paddedW * inC : 0 }
        public var inputChannelsPerGroup: Int { inC / groups }
        public var outputChannelsPerGroup: Int { outC / groups }
        public var isDepthwise: Bool { inputChannelsPerGroup == 1 && outputChannelsPerGroup == 1 }
    }

    /// Copies an NHWC tensor into the middle of a larger zero-filled (or `fill`-filled) one, so that
    /// window loops need no bounds checks.
    public static func padNHWC(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
        batch: Int, h: Int, w: Int, c: Int,
        top: Int, left: Int, bottom: Int, right: Int, fill: Float
    ) {
        let ph = h + top + bottom, pw = w + left + right
        fillBorder(dst, batch: batch, h: h, w: w, c: c, top: top, left: left, bottom: bottom, right: right, fill: fill)
        for n in 0..<batch {
            for y in 0..<h {
                UnsafeMutableRawPointer(dst + ((n * ph + y + top) * pw + left) * c).copyMemory(
                    from: src + ((n * h + y) * w) * c, byteCount: w * c * 4)
            }
        }
    }

    /// Fills the border of a padded NHWC tensor (`c` elements per pixel): only what a copy of the
    /// `h` x `w` inside leaves (filling the whole buffer before the copy was most of a small
    /// depthwise layer's time).
    static func fillBorder<T>(
        _ dst: UnsafeMutablePointer<T>, batch: Int, h: Int, w: Int, c: Int,
        top: Int, left: Int, bottom: Int, right: Int, fill: T
    ) {
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

    /// The 2x2 output tiles of a convolution by Winograd's F(2x2, 3x3) (the float and int8
    /// Winograd kernels): how many, the input padded to whole tiles, and the band of tile rows
    /// transformed at once.
    struct WinogradTiles {
        let tilesH: Int, tilesW: Int
        /// Tile rows per band: their transformed input and products about `bandBytes`, unless the
        /// transformed weights are the larger (then one band, so that each is read once).
        let bandRows: Int
        static let bandBytes = 256 * 1024

        /// Whether `g`'s shape is one the tiles cover: 3x3, stride 1, no dilation, one group, at
        /// least 4 x 4 outputs, and pads that make the padded input the output plus 2.
        static func fits(_ g: Conv2DGeometry) -> Bool {
            g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1
                && g.dilationW == 1 && g.groups == 1 && g.outH >= 4 && g.outW >= 4 && g.paddedH == g.outH + 2
                && g.paddedW == g.outW + 2
        }

        /// `bytesPerTile`: one tile's transformed input and products; `weightBytes`: the
        /// transformed weights every band reads.
        init(_ g: Conv2DGeometry, bytesPerTile: Int, weightBytes: Int) {
            tilesH = (g.outH + 1) / 2
            tilesW = (g.outW + 1) / 2
            let perRow = tilesW * bytesPerTile
            bandRows =
                weightBytes > perRow * tilesH
                ? tilesH : Swift.max(1, Swift.min(tilesH, Self.bandBytes / Swift.max(1, perRow)))
        }

        /// The input padded to whole tiles: every tile's 4x4 patch inside.
        var paddedH: Int { 2 * tilesH + 2 }
        var paddedW: Int { 2 * tilesW + 2 }

        /// Calls `body` for each tile of the band rows `firstRow ..< firstRow + rows` of an output
        /// of `outH` x `outW`: its index in the band, its patch's first pixel in the padded input,
        /// its first output pixel, and whether its right column and lower row are in the output.
        @inline(__always)
        func forEachTile(
            firstRow: Int, rows: Int, outH: Int, outW: Int,
            _ body: (_ tile: Int, _ patch: Int, _ pixel: Int, _ right: Bool, _ below: Bool) -> Void
        ) {
            for r in 0..<rows {
                let oh = 2 * (firstRow + r)
                for tw in 0..<tilesW {
                    let ow = 2 * tw
                    body(r * tilesW + tw, oh * paddedW + ow, oh * outW + ow, ow + 1 < outW, oh + 1 < outH)
                }
            }
        }
    }
}
