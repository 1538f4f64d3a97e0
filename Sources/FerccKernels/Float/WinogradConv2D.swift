// fercc-kernel requires: Float/Conv2D.swift Common/SIMD.swift Common/Geometry.swift Common/Activation.swift Common/Memory.swift Common/WinogradTiles.swift

extension Kernels {
    /// A 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray 2016):
    /// each 2x2 block of output pixels ("tile") is A^T [(G g G^T) . (B^T d B)] A, from the 4x4
    /// input patch d and the 3x3 filter g: 16 multiplications per tile and channel pair where the
    /// direct convolution does 4 x 9 = 36, plus the transforms (additions). The sixteen
    /// element-wise products, summed over input channels, are sixteen matrix products (tiles x
    /// input channels times input channels x output channels) that run on `Conv2DKernel` as 1x1
    /// convolutions. ResNet18's 3x3 layers are 83% of its MACs and the direct kernel already runs
    /// them at the FMA units' peak, so only fewer multiplications make them faster (design
    /// decision 25). The results differ from the direct convolution's by rounding (the transforms
    /// add and subtract inputs before multiplying: 7.7e-7 relative on ResNet18), and a NaN or
    /// infinity anywhere in a tile's input patch reaches all four of its outputs.
    ///
    /// The transformed weights (G g G^T, 16/9 of the 3x3 weights, packed for the 1x1 kernel) are
    /// computed once, when the kernel is made, into memory the kernel owns: the model file keeps
    /// the 3x3 weights. The input is transformed in bands of tile rows sized so that a band's
    /// transformed input and products stay in cache (the whole image at once when the
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

        /// From OHWI weights (`outC` x 3 x 3 x `inC`) and `outC` biases, both read here (the weights
        /// only while making the kernel; the bias in place, so its memory must outlive the kernel).
        /// Nil when the memory for the transformed weights (`ownedBytes`) cannot be had.
        @inline(never)
        public init?(
            geometry g: Conv2DGeometry, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
            activation: Activation = .identity
        ) {
            precondition(Self.applies(g), "a Winograd convolution is 3x3, stride 1, dense")
            geometry = g
            self.bias = bias
            clamp = OutputClamp(activation)
            rowActivation = clamp == nil && activation != .identity ? activation : nil
            let lanes = Conv2DKernel.lanes
            let blocks = (g.outC + lanes - 1) / lanes
            positionFloats = blocks * g.inC * lanes
            guard let owned = WinogradWeights(count: 16 * positionFloats, zeros: g.outC) else { return nil }
            self.weights = owned
            let u = self.weights.pointer, inC = g.inC
            // G g G^T for each (output, input) channel pair, written into each position's 1x1 layout
            // [block of 16 outputs][input channel][16].
            for co in 0..<g.outC {
                let blockBase = (co / lanes) * inC * lanes + co % lanes
                for ci in 0..<inC {
                    var f = (0..<9).map { _ in Float(0) }
                    for t in 0..<9 { f[t] = weights[(co * 9 + t) * inC + ci] }
                    // G g: 4 rows of 3.
                    var gg = (0..<12).map { _ in Float(0) }
                    for c in 0..<3 {
                        let a = f[c], b = f[3 + c], d = f[6 + c]
                        gg[c] = a
                        gg[3 + c] = (a + b + d) * 0.5
                        gg[6 + c] = (a - b + d) * 0.5
                        gg[9 + c] = d
                    }
                    // (G g) G^T: 4 x 4.
                    for r in 0..<4 {
                        let a = gg[r * 3], b = gg[r * 3 + 1], d = gg[r * 3 + 2]
                        let row = [a, (a + b + d) * 0.5, (a - b + d) * 0.5, d]
                        for c in 0..<4 { u[(r * 4 + c) * positionFloats + blockBase + ci * lanes] = row[c] }
                    }
                }
            }
            tiles = WinogradTiles(g, bytesPerTile: 16 * (g.inC + g.outC) * 4, weightBytes: 16 * positionFloats * 4)
        }

        /// Bytes of memory a kernel of geometry `g` allocates and keeps: its transformed weights
        /// and a zero bias.
        public static func ownedBytes(_ g: Conv2DGeometry) -> Int {
            let blocks = (g.outC + Conv2DKernel.lanes - 1) / Conv2DKernel.lanes
            return (16 * blocks * g.inC * Conv2DKernel.lanes + g.outC) * 4
        }

        /// Floats of scratch `run` needs: the padded input (rounded up to whole tiles), then a
        /// band's transformed input and products.
        public var scratchCount: Int {
            let g = geometry
            return tiles.paddedH * tiles.paddedW * g.inC + 16 * tiles.bandRows * tiles.tilesW * (g.inC + g.outC)
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
            let g = geometry, tw = tiles.tilesW
            let padded = scratch
            let v = scratch + tiles.paddedH * tiles.paddedW * g.inC
            let m = v + 16 * tiles.bandRows * tw * g.inC
            for n in 0..<g.batch {
                // Zero borders all round, so every tile's 4x4 patch is inside.
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
                    for p in 0..<16 {
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

        /// B^T d B of every tile of rows `firstRow ..< firstRow + rows`, for every input channel:
        /// position p of tile t at `v + (p * tiles + t) * inC`.
        func transformInput(_ x: UnsafePointer<Float>, firstRow: Int, rows: Int, into v: UnsafeMutablePointer<Float>) {
            let g = geometry, c = g.inC, rowFloats = tiles.paddedW * c
            let plane = rows * tiles.tilesW * c
            tiles.forEachTile(firstRow: firstRow, rows: rows, outH: g.outH, outW: g.outW) { t, patchPixel, _, _, _ in
                let patch = x + patchPixel * c
                let dst = v + t * c
                var ch = 0
                while ch < c {
                    let count = Swift.min(8, c - ch)
                    @inline(__always) func d(_ i: Int, _ j: Int) -> SIMD8<Float> {
                        Lanes8.load(patch + i * rowFloats + j * c + ch, count: count).v
                    }
                    // B^T d, column by column: rows 0 - 2, 1 + 2, 2 - 1, 1 - 3.
                    @inline(__always) func column(_ j: Int) -> (
                        SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>
                    ) {
                        let d0 = d(0, j), d1 = d(1, j), d2 = d(2, j), d3 = d(3, j)
                        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
                    }
                    // (B^T d) B: the same on each row's four values.
                    @inline(__always) func row(
                        _ i: Int, _ e0: SIMD8<Float>, _ e1: SIMD8<Float>, _ e2: SIMD8<Float>, _ e3: SIMD8<Float>
                    ) {
                        Lanes8(e0 - e2).store(dst + (i * 4) * plane + ch, count: count)
                        Lanes8(e1 + e2).store(dst + (i * 4 + 1) * plane + ch, count: count)
                        Lanes8(e2 - e1).store(dst + (i * 4 + 2) * plane + ch, count: count)
                        Lanes8(e1 - e3).store(dst + (i * 4 + 3) * plane + ch, count: count)
                    }
                    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3)
                    row(0, c0.0, c1.0, c2.0, c3.0)
                    row(1, c0.1, c1.1, c2.1, c3.1)
                    row(2, c0.2, c1.2, c2.2, c3.2)
                    row(3, c0.3, c1.3, c2.3, c3.3)
                    ch += 8
                }
            }
        }

        /// A^T M A + bias, clamped, of the band's tiles into the output (the pixels inside it).
        func transformOutput<C: VectorClamp>(
            _ m: UnsafePointer<Float>, firstRow: Int, rows: Int, into out: UnsafeMutablePointer<Float>, _ clamp: C
        ) {
            let g = geometry, c = g.outC
            let plane = rows * tiles.tilesW * c
            tiles.forEachTile(firstRow: firstRow, rows: rows, outH: g.outH, outW: g.outW) { t, _, pixel, right, below in
                let src = m + t * c
                let dst = out + pixel * c
                var ch = 0
                while ch < c {
                    let count = Swift.min(8, c - ch)
                    @inline(__always) func e(_ p: Int) -> SIMD8<Float> {
                        Lanes8.load(src + p * plane + ch, count: count).v
                    }
                    // A^T M, column by column: rows 0 + 1 + 2 and 1 - 2 - 3.
                    @inline(__always) func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                        let m0 = e(j), m1 = e(4 + j), m2 = e(8 + j), m3 = e(12 + j)
                        return (m0 + m1 + m2, m1 - m2 - m3)
                    }
                    let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3)
                    let b = Lanes8.load(bias + ch, count: count).v
                    let y00 = clamp.apply(Lanes8(k0.0 + k1.0 + k2.0 + b))
                    let y01 = clamp.apply(Lanes8(k1.0 - k2.0 - k3.0 + b))
                    let y10 = clamp.apply(Lanes8(k0.1 + k1.1 + k2.1 + b))
                    let y11 = clamp.apply(Lanes8(k1.1 - k2.1 - k3.1 + b))
                    y00.store(dst + ch, count: count)
                    if right { y01.store(dst + c + ch, count: count) }
                    if below {
                        y10.store(dst + g.outW * c + ch, count: count)
                        if right { y11.store(dst + (g.outW + 1) * c + ch, count: count) }
                    }
                    ch += 8
                }
            }
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
