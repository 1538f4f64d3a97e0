// fercc-kernel requires: Common/Geometry.swift

extension Kernels {
    /// The square output tiles of a convolution by Winograd's F(2x2, 3x3) or F(4x4, 3x3) (the
    /// float and int8 Winograd kernels): how large, how many, the input padded to whole tiles, and
    /// the band of tile rows transformed at once.
    struct WinogradTiles {
        /// Output pixels on a tile's side: 2 or 4; its input patch has `size + 2`.
        let size: Int
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

        /// Tiles of `size` (2 or 4) pixels a side. `bytesPerTile`: one tile's transformed input
        /// and products; `weightBytes`: the transformed weights every band reads.
        init(_ g: Conv2DGeometry, size: Int = 2, bytesPerTile: Int, weightBytes: Int) {
            self.size = size
            tilesH = (g.outH + size - 1) / size
            tilesW = (g.outW + size - 1) / size
            let perRow = tilesW * bytesPerTile
            bandRows =
                weightBytes > perRow * tilesH
                ? tilesH : Swift.max(1, Swift.min(tilesH, Self.bandBytes / Swift.max(1, perRow)))
        }

        /// Transformed values per tile and channel: (size + 2)^2.
        var positions: Int { (size + 2) * (size + 2) }

        /// The input padded to whole tiles: every tile's patch inside.
        var paddedH: Int { size * tilesH + 2 }
        var paddedW: Int { size * tilesW + 2 }

        /// Calls `body` for each tile of the band rows `firstRow ..< firstRow + rows` of an output
        /// of `outH` x `outW`: its index in the band, its patch's first pixel in the padded input,
        /// its first output pixel, and how many of its rows and columns are in the output.
        @inline(__always)
        func forEachTile(
            firstRow: Int, rows: Int, outH: Int, outW: Int,
            _ body: (_ tile: Int, _ patch: Int, _ pixel: Int, _ rows: Int, _ columns: Int) -> Void
        ) {
            for r in 0..<rows {
                let oh = size * (firstRow + r)
                let inside = Swift.min(size, outH - oh)
                for tw in 0..<tilesW {
                    let ow = size * tw
                    body(r * tilesW + tw, oh * paddedW + ow, oh * outW + ow, inside, Swift.min(size, outW - ow))
                }
            }
        }
    }
}
