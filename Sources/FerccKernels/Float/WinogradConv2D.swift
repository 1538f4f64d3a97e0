// fercc-kernel requires: Float/Conv2D.swift Common/SIMD.swift Common/Geometry.swift Common/Activation.swift Common/Memory.swift Common/WinogradTiles.swift

extension Kernels {
    /// A 3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3) (Lavin and Gray
    /// 2016), m = 2 or 4: each m x m block of output pixels ("tile") is A^T [(G g G^T) . (B^T d B)] A,
    /// from the (m + 2) x (m + 2) input patch d and the 3x3 filter g: 16 multiplications per tile
    /// and channel pair where the direct convolution does 4 x 9 = 36 (F(2x2)), or 36 where it does
    /// 16 x 9 = 144 (F(4x4)), plus the transforms (additions and small constant factors). The
    /// element-wise products, summed over input channels, are matrix products (tiles x input
    /// channels times input channels x output channels) that run on `Conv2DKernel` as 1x1
    /// convolutions. ResNet18's 3x3 layers are 83% of its MACs and the direct kernel already runs
    /// them at the FMA units' peak, so only fewer multiplications make them faster (design
    /// decisions 25 and 44). The results differ from the direct convolution's by rounding (the
    /// transforms add and subtract inputs before multiplying; F(4x4)'s factors up to 8 more so),
    /// and a NaN or infinity anywhere in a tile's input patch reaches all of its outputs.
    ///
    /// The transformed weights (G g G^T: 16/9 or 36/9 of the 3x3 weights, packed for the 1x1
    /// kernel) are computed once, when the kernel is made, into memory the kernel owns: the model
    /// file keeps the 3x3 weights. The input is transformed in bands of tile rows sized so that a
    /// band's transformed input and products stay in cache (the whole image at once when the
    /// transformed weights are larger than they: each band reads them all).
    public struct WinogradConv2DKernel {
        public let geometry: Conv2DGeometry
        let weights: WinogradWeights
        let bias: UnsafePointer<Float>
        let clamp: OutputClamp?
        let rowActivation: Activation?
        let tiles: WinogradTiles
        /// Floats of one transformed position's packed weights.
        let positionFloats: Int

        /// Whether the convolution `g` is one this kernel computes, and one it computes faster than
        /// the direct kernel: 3x3, stride 1, no dilation or groups, and enough channels and pixels
        /// for the transforms to pay off (measured: docs/benchmarks.md).
        public static func applies(_ g: Conv2DGeometry) -> Bool {
            WinogradTiles.fits(g) && g.inC >= 32 && g.outC >= 32
        }

        /// The tile side the kernel uses for `g`: 4 (36 products per 16 pixels) when the output
        /// has room for them, else 2 (measured: design decision 44).
        public static func tileSize(_ g: Conv2DGeometry) -> Int {
            g.outH >= 16 && g.outW >= 16 ? 4 : 2
        }

        /// From OHWI weights (`outC` x 3 x 3 x `inC`) and `outC` biases, both read here (the weights
        /// only while making the kernel; the bias in place, so its memory must outlive the kernel),
        /// in tiles of `tileSize` (2 or 4) pixels a side. Nil when the memory for the transformed
        /// weights (`ownedBytes`) cannot be had.
        @inline(never)
        public init?(
            geometry g: Conv2DGeometry, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
            activation: Activation = .identity, tileSize: Int? = nil
        ) {
            precondition(Self.applies(g), "a Winograd convolution is 3x3, stride 1, dense")
            let size = tileSize ?? Self.tileSize(g)
            precondition(size == 2 || size == 4, "Winograd tiles are 2 or 4 pixels a side")
            geometry = g
            self.bias = bias
            clamp = OutputClamp(activation)
            rowActivation = clamp == nil && activation != .identity ? activation : nil
            let lanes = Conv2DKernel.lanes
            let blocks = (g.outC + lanes - 1) / lanes
            let n = size + 2, positions = n * n
            positionFloats = blocks * g.inC * lanes
            guard let owned = WinogradWeights(count: positions * positionFloats, zeros: g.outC) else { return nil }
            self.weights = owned
            // G, (size + 2) x 3, in double: its F(4x4) entries are sixths and twenty-fourths.
            var gMatrix: [Double] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1]
            if size == 4 {
                let sixth: Double = 1.0 / 6, twelfth: Double = 1.0 / 12, twentyFourth: Double = 1.0 / 24
                gMatrix = [0.25, 0, 0, -sixth, -sixth, -sixth, -sixth, sixth, -sixth]
                gMatrix += [twentyFourth, twelfth, sixth, twentyFourth, -twelfth, sixth, 0, 0, 1]
            }
            let u = self.weights.pointer, inC = g.inC
            var gg = [Double](repeating: 0, count: n * 3)
            // G g G^T for each (output, input) channel pair, written into each position's 1x1 layout
            // [block of 16 outputs][input channel][16].
            for co in 0..<g.outC {
                let blockBase = (co / lanes) * inC * lanes + co % lanes
                for ci in 0..<inC {
                    @inline(__always) func f(_ r: Int, _ c: Int) -> Double {
                        Double(weights[(co * 9 + r * 3 + c) * inC + ci])
                    }
                    // G g: n rows of 3.
                    for r in 0..<n {
                        for c in 0..<3 {
                            gg[r * 3 + c] =
                                gMatrix[r * 3] * f(0, c) + gMatrix[r * 3 + 1] * f(1, c) + gMatrix[r * 3 + 2] * f(2, c)
                        }
                    }
                    // (G g) G^T: n x n.
                    for r in 0..<n {
                        for c in 0..<n {
                            let value =
                                gg[r * 3] * gMatrix[c * 3] + gg[r * 3 + 1] * gMatrix[c * 3 + 1] + gg[r * 3 + 2]
                                * gMatrix[c * 3 + 2]
                            u[(r * n + c) * positionFloats + blockBase + ci * lanes] = Float(value)
                        }
                    }
                }
            }
            tiles = WinogradTiles(
                g, size: size, bytesPerTile: positions * (g.inC + g.outC) * 4,
                weightBytes: positions * positionFloats * 4)
        }

        /// Bytes of memory a kernel of geometry `g` allocates and keeps: its transformed weights
        /// and a zero bias.
        public static func ownedBytes(_ g: Conv2DGeometry) -> Int {
            let blocks = (g.outC + Conv2DKernel.lanes - 1) / Conv2DKernel.lanes
            let n = tileSize(g) + 2
            return (n * n * blocks * g.inC * Conv2DKernel.lanes + g.outC) * 4
        }

        /// Floats of scratch `run` needs: the padded input (rounded up to whole tiles), then a
        /// band's transformed input and products.
        public var scratchCount: Int {
            let g = geometry
            return tiles.paddedH * tiles.paddedW * g.inC + tiles.positions * tiles.bandRows * tiles.tilesW
                * (g.inC + g.outC)
        }

        /// `run` with the kernel's own clamp.
        public func run(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        ) {
            switch clamp {
            case nil: run(input: input, output: output, scratch: scratch, clamp: NoClamp())
            case .relu?: run(input: input, output: output, scratch: scratch, clamp: ReluClamp())
            case .clip(let lo, let hi)?:
                run(input: input, output: output, scratch: scratch, clamp: ClipClamp(low: lo, high: hi))
            }
        }

        /// Convolves `input` into `output` with the kernel's clamp as a type argument (`NoClamp`
        /// when it has none); `scratch` holds `scratchCount` floats.
        public func run<C: VectorClamp>(
            input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
            clamp: C
        ) {
            let g = geometry, tw = tiles.tilesW, positions = tiles.positions
            let padded = scratch
            let v = scratch + tiles.paddedH * tiles.paddedW * g.inC
            let m = v + positions * tiles.bandRows * tw * g.inC
            for n in 0..<g.batch {
                // Zero borders all round, so every tile's patch is inside.
                padNHWC(
                    input + n * g.inH * g.inW * g.inC, padded, batch: 1, h: g.inH, w: g.inW, c: g.inC,
                    top: g.padTop, left: g.padLeft, bottom: tiles.paddedH - g.inH - g.padTop,
                    right: tiles.paddedW - g.inW - g.padLeft, fill: 0)
                let out = output + n * g.outH * g.outW * g.outC
                var t0 = 0
                while t0 < tiles.tilesH {
                    let rows = Swift.min(tiles.bandRows, tiles.tilesH - t0)
                    let count = rows * tw
                    transformInput(padded, firstRow: t0, rows: rows, into: v)
                    let product = Conv2DGeometry(
                        input: (1, rows, tw, g.inC), output: (rows, tw, g.outC), kernel: (1, 1))
                    for p in 0..<positions {
                        Conv2DKernel(
                            geometry: product, packed: weights.pointer + p * positionFloats,
                            bias: weights.zeros
                        ).run(
                            input: v + p * count * g.inC, output: m + p * count * g.outC, scratch: m, clamp: NoClamp())
                    }
                    transformOutput(m, firstRow: t0, rows: rows, into: out, clamp)
                    t0 += rows
                }
                if let a = rowActivation { a.run(out, out, count: g.outH * g.outW * g.outC) }
            }
        }

        /// Calls `body` for every tile of rows `firstRow ..< firstRow + rows` and every 8 channels
        /// of `channels`: the tile's index in the band, its patch's and its output's first pixel,
        /// its rows and columns inside the output, the first channel and how many (at most 8).
        @inline(__always)
        func forEachTileChannels(
            firstRow: Int, rows: Int, channels: Int,
            _ body: (_ tile: Int, _ patch: Int, _ pixel: Int, _ rows: Int, _ columns: Int, _ ch: Int, _ count: Int)
                -> Void
        ) {
            let g = geometry
            tiles.forEachTile(firstRow: firstRow, rows: rows, outH: g.outH, outW: g.outW) {
                t, patch, pixel, inside, columns in
                var ch = 0
                while ch < channels {
                    body(t, patch, pixel, inside, columns, ch, Swift.min(8, channels - ch))
                    ch += 8
                }
            }
        }

        /// B^T d B of every tile of rows `firstRow ..< firstRow + rows`, for every input channel:
        /// position p of tile t at `v + (p * tiles + t) * inC`.
        func transformInput(_ x: UnsafePointer<Float>, firstRow: Int, rows: Int, into v: UnsafeMutablePointer<Float>) {
            let c = geometry.inC, rowFloats = tiles.paddedW * c
            let plane = rows * tiles.tilesW * c
            // `tile(d, put, load)` on every tile and 8 channels: `d(i, j)` reads the patch's row i,
            // column j, `put(p, e)` stores position p, `load(p)` reads it back.
            @inline(__always) func eachTile(
                _ tile: ((Int, Int) -> SIMD8<Float>, (Int, SIMD8<Float>) -> Void, (Int) -> SIMD8<Float>) -> Void
            ) {
                forEachTileChannels(firstRow: firstRow, rows: rows, channels: c) { t, patchPixel, _, _, _, ch, count in
                    let patch = x + patchPixel * c + ch
                    let dst = v + t * c + ch
                    tile(
                        { i, j in Lanes8.load(patch + i * rowFloats + j * c, count: count).v },
                        { p, e in Lanes8(e).store(dst + p * plane, count: count) },
                        { p in Lanes8.load(dst + p * plane, count: count).v })
                }
            }
            if tiles.size == 4 {
                eachTile { d, put, load in Self.inputTile4(d, put, load: load) }
            } else {
                eachTile { d, put, _ in Self.inputTile2(d, put) }
            }
        }

        /// F(2x2)'s B^T d B of one tile: `d(i, j)` its patch's value at row i, column j; `put(p, e)`
        /// stores position p.
        @inline(__always)
        static func inputTile2(_ d: (Int, Int) -> SIMD8<Float>, _ put: (Int, SIMD8<Float>) -> Void) {
            // B^T d, column by column: rows 0 - 2, 1 + 2, 2 - 1, 1 - 3.
            @inline(__always) func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                let d0 = d(0, j), d1 = d(1, j), d2 = d(2, j), d3 = d(3, j)
                return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
            }
            // (B^T d) B: the same on each row's four values.
            @inline(__always) func row(
                _ i: Int, _ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>
            ) {
                put(i * 4, e0 - e2)
                put(i * 4 + 1, e1 + e2)
                put(i * 4 + 2, e2 - e1)
                put(i * 4 + 3, e1 - e3)
            }
            let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3)
            row(0, c0.0, c1.0, c2.0, c3.0)
            row(1, c0.1, c1.1, c2.1, c3.1)
            row(2, c0.2, c1.2, c2.2, c3.2)
            row(3, c0.3, c1.3, c2.3, c3.3)
        }

        /// F(4x4)'s B^T d B of one tile, as `inputTile2`; `load(p)` reads back position p. B^T d
        /// is computed into the positions first, then each row of it is transformed in place (36
        /// vectors would not stay in registers).
        @inline(__always)
        static func inputTile4(
            _ d: (Int, Int) -> SIMD8<Float>, _ put: (Int, SIMD8<Float>) -> Void, load: (Int) -> SIMD8<Float>
        ) {
            // B^T on six values a step apart, into six positions a step apart.
            @inline(__always) func transform(_ load: (Int) -> SIMD8<Float>, _ store: (Int, SIMD8<Float>) -> Void) {
                let d0 = load(0), d1 = load(1), d2 = load(2), d3 = load(3), d4 = load(4), d5 = load(5)
                let four: SIMD8<Float> = .init(repeating: 4), five: SIMD8<Float> = .init(repeating: 5)
                let two: SIMD8<Float> = .init(repeating: 2)
                store(0, four * d0 - five * d2 + d4)
                store(1, d3 + d4 - four * (d1 + d2))
                store(2, four * (d1 - d2) - d3 + d4)
                store(3, two * (d3 - d1) - d2 + d4)
                store(4, two * (d1 - d3) - d2 + d4)
                store(5, four * d1 - five * d3 + d5)
            }
            // B^T d, column by column, into row i of position i * 6 + j.
            for j in 0..<6 {
                transform({ i in d(i, j) }, { i, e in put(i * 6 + j, e) })
            }
            // (B^T d) B: the same on each row's six values.
            for i in 0..<6 {
                transform({ j in load(i * 6 + j) }, { j, e in put(i * 6 + j, e) })
            }
        }

        /// A^T M A + bias, clamped, of the band's tiles into the output (the pixels inside it).
        func transformOutput<C: VectorClamp>(
            _ m: UnsafePointer<Float>, firstRow: Int, rows: Int, into out: UnsafeMutablePointer<Float>, _ clamp: C
        ) {
            let g = geometry, c = g.outC
            let plane = rows * tiles.tilesW * c
            // `tile(e, put, rows, columns)` on every tile and 8 channels: `e(p)` reads position p,
            // `put(i, j, y)` stores y + bias, clamped, at the tile's output row i, column j.
            @inline(__always) func eachTile(
                _ tile: ((Int) -> SIMD8<Float>, (Int, Int, SIMD8<Float>) -> Void, Int, Int) -> Void
            ) {
                forEachTileChannels(firstRow: firstRow, rows: rows, channels: c) {
                    t, _, pixel, inside, columns, ch, count in
                    let src = m + t * c + ch
                    let dst = out + pixel * c + ch
                    let b = Lanes8.load(bias + ch, count: count).v
                    tile(
                        { p in Lanes8.load(src + p * plane, count: count).v },
                        { i, j, y in clamp.apply(Lanes8(y + b)).store(dst + (i * g.outW + j) * c, count: count) },
                        inside, columns)
                }
            }
            if tiles.size == 4 {
                eachTile { e, put, rows, columns in Self.outputTile4(e, put, rows: rows, columns: columns) }
            } else {
                eachTile { e, put, rows, columns in Self.outputTile2(e, put, rows: rows, columns: columns) }
            }
        }

        /// F(2x2)'s A^T M A of one tile: `e(p)` reads position p; `put(i, j, y)` stores output
        /// row i, column j, for the tile's `rows` and `columns` inside the output.
        @inline(__always)
        static func outputTile2(
            _ e: (Int) -> SIMD8<Float>, _ put: (Int, Int, SIMD8<Float>) -> Void, rows: Int, columns: Int
        ) {
            // A^T M, column by column: rows 0 + 1 + 2 and 1 - 2 - 3.
            @inline(__always) func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                let m0 = e(j), m1 = e(4 + j), m2 = e(8 + j), m3 = e(12 + j)
                return (m0 + m1 + m2, m1 - m2 - m3)
            }
            let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3)
            put(0, 0, k0.0 + k1.0 + k2.0)
            if columns > 1 { put(0, 1, k1.0 - k2.0 - k3.0) }
            if rows > 1 {
                put(1, 0, k0.1 + k1.1 + k2.1)
                if columns > 1 { put(1, 1, k1.1 - k2.1 - k3.1) }
            }
        }

        /// F(4x4)'s A^T M A of one tile, as `outputTile2`.
        @inline(__always)
        static func outputTile4(
            _ e: (Int) -> SIMD8<Float>, _ put: (Int, Int, SIMD8<Float>) -> Void, rows: Int, columns: Int
        ) {
            // A^T on six values: 0 + 1 + 2 + 3 + 4, (1 - 2) + 2 (3 - 4), (1 + 2) + 4 (3 + 4),
            // (1 - 2) + 8 (3 - 4) + 5.
            @inline(__always) func transform(
                _ m0: SIMD8<Float>, _ m1: SIMD8<Float>, _ m2: SIMD8<Float>, _ m3: SIMD8<Float>,
                _ m4: SIMD8<Float>, _ m5: SIMD8<Float>
            ) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                let sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4
                return (
                    m0 + sum12 + sum34, diff12 + SIMD8(repeating: 2) * diff34,
                    sum12 + SIMD8(repeating: 4) * sum34, diff12 + SIMD8(repeating: 8) * diff34 + m5
                )
            }
            // A^T M, column by column.
            @inline(__always) func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                transform(e(j), e(6 + j), e(12 + j), e(18 + j), e(24 + j), e(30 + j))
            }
            let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3), k4 = column(4), k5 = column(5)
            // (A^T M) A, row by row.
            @inline(__always) func row(
                _ i: Int, _ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ r2: SIMD8<Float>, _ r3: SIMD8<Float>,
                _ r4: SIMD8<Float>, _ r5: SIMD8<Float>
            ) {
                guard i < rows else { return }
                let y = transform(r0, r1, r2, r3, r4, r5)
                put(i, 0, y.0)
                if columns > 1 { put(i, 1, y.1) }
                if columns > 2 { put(i, 2, y.2) }
                if columns > 3 { put(i, 3, y.3) }
            }
            row(0, k0.0, k1.0, k2.0, k3.0, k4.0, k5.0)
            row(1, k0.1, k1.1, k2.1, k3.1, k4.1, k5.1)
            row(2, k0.2, k1.2, k2.2, k3.2, k4.2, k5.2)
            row(3, k0.3, k1.3, k2.3, k3.3, k4.3, k5.3)
        }
    }

    /// Memory a Winograd kernel owns: its transformed weights and a zero bias for the products.
    final class WinogradWeights {
        let pointer: UnsafeMutablePointer<Float>
        let zeros: UnsafeMutablePointer<Float>
        init?(count: Int, zeros: Int) {
            guard let memory = allocateZeroed(byteCount: (count + zeros) * 4) else { return nil }
            pointer = memory.bindMemory(to: Float.self, capacity: count + zeros)
            self.zeros = pointer + count
        }
        deinit { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}
