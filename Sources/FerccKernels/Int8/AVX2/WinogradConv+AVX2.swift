// AVX2 int8 3x3 convolution by Winograd's F(2x2, 3x3) in integers, compiled where the build
// defines FERCC_AVX2. Same bits as the portable kernels (the accumulators are the reference's).
// fercc-kernel requires: Int8/AVX2/Requantize+AVX2.swift Int8/QuantizedConvParameters.swift Int8/QuantizedPadding.swift Common/Geometry.swift Common/WinogradTiles.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    /// An int8 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) (design decision 25) with exact
    /// integers: each 2x2 output tile's accumulators are A^T [U' . V] A / 4 + bias, where V = B^T d B
    /// of the tile's 4x4 input patch d less the input zero point (|V| <= 4 x 255, int16) and
    /// U' = (2G) g (2G)^T of the 3x3 int8 filter (four times G g G^T, whose halves it clears:
    /// |U'| <= 9 x 127, int16). A^T, B and 2G hold only 0, +-1 and 2, so every step is an integer
    /// sum: A^T [U' . V] A is exactly 4 times the direct convolution's sum (wrapping int32 adds
    /// leave that exact; it fits), and the result is TFLite's reference accumulator bit for bit,
    /// requantized as `denseConvAVX2` does. The sixteen products over input channels are int16
    /// pairs on `vpmaddwd`, as in the direct kernel, but 16 per tile and channel pair instead of
    /// 36. Sums over the input channels stay below 2^31 for at most 1024 of them (2 x 1020 x 1143
    /// per pair).
    struct QuantizedWinogradAVX2 {
        let p: QuantizedConvParameters
        /// U' for each of the 16 positions as [position][block of 16 outputs][pair][16][2].
        let packed: [Int16]
        let table: [Int32]
        /// The requantization's vectors, built once (`AVX2Output`; folded where `foldedRoundingAVX2`).
        let requantizer: AVX2Output
        let tiles: WinogradTiles
        var geometry: Conv2DGeometry { p.geometry }
        var pairs: Int { p.geometry.inC / 2 }
        /// int32 per tile in the products: the output channels rounded up to blocks of 16.
        var outStride: Int { p.blocks * 16 }

        static func applies(_ p: QuantizedConvParameters) -> Bool {
            let g = p.geometry
            return WinogradTiles.fits(g) && g.inC % 16 == 0 && g.inC >= 32 && g.inC <= 1024 && g.outC >= 32
        }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, inC = g.inC, blocks = p.blocks
            let pairs = inC / 2
            requantizer = AVX2Output(
                p.requant,
                folded: foldedRoundingAVX2(p.requant, channels: g.outC, accumulatorBound: p.accumulatorBound))
            let positionCount = blocks * pairs * 32
            var packed = [Int16](repeating: 0, count: 16 * positionCount)
            for oc in 0..<g.outC {
                for ci in 0..<inC {
                    @inline(__always) func w(_ r: Int, _ c: Int) -> Int {
                        Int(p.weights[(oc * 9 + r * 3 + c) * inC + ci])
                    }
                    // (2G) g: rows 2 g0, g0 + g1 + g2, g0 - g1 + g2, 2 g2; then the same on each row's columns.
                    var t = [Int](repeating: 0, count: 12)
                    for c in 0..<3 {
                        t[c] = 2 * w(0, c)
                        t[3 + c] = w(0, c) + w(1, c) + w(2, c)
                        t[6 + c] = w(0, c) - w(1, c) + w(2, c)
                        t[9 + c] = 2 * w(2, c)
                    }
                    let at = ((oc / 16) * pairs + ci / 2) * 32 + (oc % 16) * 2 + ci % 2
                    for r in 0..<4 {
                        let a = t[r * 3], b = t[r * 3 + 1], c = t[r * 3 + 2]
                        let row = [2 * a, a + b + c, a - b + c, 2 * c]
                        for j in 0..<4 { packed[(r * 4 + j) * positionCount + at] = Int16(row[j]) }
                    }
                }
            }
            self.packed = packed
            table = AVX2Table.make(
                blocks: blocks, channelOfLane: { $0 < g.outC ? $0 : nil }, bias: p.bias, p.requant)
            tiles = WinogradTiles(g, bytesPerTile: 16 * (inC * 2 + blocks * 16 * 4), weightBytes: packed.count * 2)
        }

        var paddedBytes: Int { (tiles.paddedH * tiles.paddedW * geometry.inC + 63) / 64 * 64 }
        var transformedBytes: Int { 16 * tiles.bandRows * tiles.tilesW * geometry.inC * 2 }

        var scratchBytes: Int { paddedBytes + transformedBytes + 16 * tiles.bandRows * tiles.tilesW * outStride * 4 }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
            let g = p.geometry
            let padded = scratch.bindMemory(to: Int8.self, capacity: paddedBytes)
            let v = (scratch + paddedBytes).bindMemory(to: Int16.self, capacity: transformedBytes / 2)
            let m = (scratch + paddedBytes + transformedBytes).bindMemory(
                to: Int32.self, capacity: 16 * tiles.bandRows * tiles.tilesW * outStride)
            // One image padded with the zero point all round, to whole tiles: every tile's 4x4 patch
            // is inside and padded taps add 0.
            var image = g
            image.batch = 1
            image.padBottom = tiles.paddedH - g.inH - g.padTop
            image.padRight = tiles.paddedW - g.inW - g.padLeft
            for n in 0..<g.batch {
                padInt8(
                    input + n * g.inH * g.inW * g.inC, image, channelStride: g.inC,
                    fill: Int8(truncatingIfNeeded: p.inputZeroPoint), padded)
                let out = output + n * g.outH * g.outW * g.outC
                var t0 = 0
                while t0 < tiles.tilesH {
                    let rows = Swift.min(tiles.bandRows, tiles.tilesH - t0)
                    transformInput(padded, firstRow: t0, rows: rows, into: v)
                    packed.withUnsafeBufferPointer { u in
                        multiply(v, tiles: rows * tiles.tilesW, weights: u.baseAddress!, into: m)
                    }
                    table.withUnsafeBufferPointer { t in
                        transformOutput(m, firstRow: t0, rows: rows, table: t.baseAddress!, into: out)
                    }
                    t0 += rows
                }
            }
        }

        /// B^T (d - zero point) B of every tile of the band, 16 channels at a time: position q of
        /// tile t at `v + (q * tiles + t) * inC`.
        @inline(__always)
        func transformInput(_ x: UnsafePointer<Int8>, firstRow: Int, rows: Int, into v: UnsafeMutablePointer<Int16>) {
            let g = geometry, c = g.inC, rowBytes = tiles.paddedW * c
            let plane = rows * tiles.tilesW * c
            let zp = _mm256_set1_epi16(Int16(truncatingIfNeeded: p.inputZeroPoint))
            tiles.forEachTile(firstRow: firstRow, rows: rows, outH: g.outH, outW: g.outW) { t, patchPixel, _, _, _ in
                let patch = x + patchPixel * c
                let dst = v + t * c
                var ch = 0
                while ch < c {
                    @inline(__always) func d(_ i: Int, _ j: Int) -> __m256i {
                        _mm256_sub_epi16(
                            _mm256_cvtepi8_epi16(
                                UnsafeRawPointer(patch + i * rowBytes + j * c + ch).loadUnaligned(as: __m128i.self)),
                            zp)
                    }
                    @inline(__always) func column(_ j: Int) -> (__m256i, __m256i, __m256i, __m256i) {
                        let d0 = d(0, j), d1 = d(1, j), d2 = d(2, j), d3 = d(3, j)
                        return (
                            _mm256_sub_epi16(d0, d2), _mm256_add_epi16(d1, d2), _mm256_sub_epi16(d2, d1),
                            _mm256_sub_epi16(d1, d3)
                        )
                    }
                    @inline(__always) func store(_ q: Int, _ value: __m256i) {
                        UnsafeMutableRawPointer(dst + q * plane + ch).storeBytes(of: value, as: __m256i.self)
                    }
                    @inline(__always) func row(_ i: Int, _ e0: __m256i, _ e1: __m256i, _ e2: __m256i, _ e3: __m256i) {
                        store(i * 4, _mm256_sub_epi16(e0, e2))
                        store(i * 4 + 1, _mm256_add_epi16(e1, e2))
                        store(i * 4 + 2, _mm256_sub_epi16(e2, e1))
                        store(i * 4 + 3, _mm256_sub_epi16(e1, e3))
                    }
                    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3)
                    row(0, c0.0, c1.0, c2.0, c3.0)
                    row(1, c0.1, c1.1, c2.1, c3.1)
                    row(2, c0.2, c1.2, c2.2, c3.2)
                    row(3, c0.3, c1.3, c2.3, c3.3)
                    ch += 16
                }
            }
        }

        /// The sixteen products over input channels, int32 per tile and output channel (blocks of
        /// 16): position q of tile t at `m + (q * tiles + t) * outStride`. Tiles of 4 x 16 outputs,
        /// each block's weights (at most 32 KB) in cache while the band's tiles pass.
        @inline(__always)
        func multiply(
            _ v: UnsafePointer<Int16>, tiles: Int, weights: UnsafePointer<Int16>, into m: UnsafeMutablePointer<Int32>
        ) {
            let c = geometry.inC, pairs = self.pairs, blocks = p.blocks, stride = outStride
            @inline(__always) func store(_ a: __m256i, _ at: UnsafeMutablePointer<Int32>) {
                UnsafeMutableRawPointer(at).storeBytes(of: a, as: __m256i.self)
            }
            for q in 0..<16 {
                let vq = v + q * tiles * c, mq = m + q * tiles * stride
                for b in 0..<blocks {
                    let wb = weights + (q * blocks + b) * pairs * 32
                    var t = 0
                    while t + 4 <= tiles {
                        let x0 = vq + t * c, x1 = x0 + c, x2 = x1 + c, x3 = x2 + c
                        let zero = _mm256_setzero_si256()
                        var a00 = zero, a01 = zero, a10 = zero, a11 = zero
                        var a20 = zero, a21 = zero, a30 = zero, a31 = zero
                        var w = wb
                        for k in 0..<pairs {
                            let w0 = loadM256(UnsafeRawPointer(w)), w1 = loadM256(UnsafeRawPointer(w + 16))
                            let v0 = broadcastPair(x0 + 2 * k)
                            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v0, w0))
                            a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v0, w1))
                            let v1 = broadcastPair(x1 + 2 * k)
                            a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(v1, w0))
                            a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(v1, w1))
                            let v2 = broadcastPair(x2 + 2 * k)
                            a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(v2, w0))
                            a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(v2, w1))
                            let v3 = broadcastPair(x3 + 2 * k)
                            a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(v3, w0))
                            a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(v3, w1))
                            w += 32
                        }
                        let o = mq + t * stride + b * 16
                        store(a00, o)
                        store(a01, o + 8)
                        store(a10, o + stride)
                        store(a11, o + stride + 8)
                        store(a20, o + 2 * stride)
                        store(a21, o + 2 * stride + 8)
                        store(a30, o + 3 * stride)
                        store(a31, o + 3 * stride + 8)
                        t += 4
                    }
                    while t < tiles {
                        let x0 = vq + t * c
                        var a00 = _mm256_setzero_si256(), a01 = _mm256_setzero_si256()
                        var w = wb
                        for k in 0..<pairs {
                            let v0 = broadcastPair(x0 + 2 * k)
                            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v0, loadM256(UnsafeRawPointer(w))))
                            a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v0, loadM256(UnsafeRawPointer(w + 16))))
                            w += 32
                        }
                        let o = mq + t * stride + b * 16
                        store(a00, o)
                        store(a01, o + 8)
                        t += 1
                    }
                }
            }
        }

        /// A^T M A / 4 + bias of the band's tiles, requantized into the output (the pixels inside it).
        @inline(__always)
        func transformOutput(
            _ m: UnsafePointer<Int32>, firstRow: Int, rows: Int, table: UnsafePointer<Int32>,
            into out: UnsafeMutablePointer<Int8>
        ) {
            let g = geometry, c = g.outC, stride = outStride
            let plane = rows * tiles.tilesW * stride
            let o = requantizer
            tiles.forEachTile(firstRow: firstRow, rows: rows, outH: g.outH, outW: g.outW) {
                tile, _, pixel, inside, columns in
                let right = columns > 1, below = inside > 1
                let src = m + tile * stride
                let dst = out + pixel * c
                for b in 0..<p.blocks {
                    let t = table + b * AVX2Table.stride
                    let valid = Swift.min(16, c - b * 16)
                    // Two vectors of 8 channels each.
                    @inline(__always) func tile(_ half: Int) -> (__m256i, __m256i, __m256i, __m256i) {
                        @inline(__always) func e(_ q: Int) -> __m256i {
                            loadM256(UnsafeRawPointer(src + q * plane + b * 16 + half * 8))
                        }
                        // A^T M, column by column: rows 0 + 1 + 2 and 1 - 2 - 3; then the same across.
                        @inline(__always) func column(_ j: Int) -> (__m256i, __m256i) {
                            let m0 = e(j), m1 = e(4 + j), m2 = e(8 + j), m3 = e(12 + j)
                            return (
                                _mm256_add_epi32(_mm256_add_epi32(m0, m1), m2),
                                _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), m3)
                            )
                        }
                        let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3)
                        let bias = loadM256(UnsafeRawPointer(t + AVX2Table.bias + half * 8))
                        @inline(__always) func finish(_ x: __m256i) -> __m256i {
                            _mm256_add_epi32(_mm256_srai_epi32(x, 2), bias)
                        }
                        return (
                            finish(_mm256_add_epi32(_mm256_add_epi32(k0.0, k1.0), k2.0)),
                            finish(_mm256_sub_epi32(_mm256_sub_epi32(k1.0, k2.0), k3.0)),
                            finish(_mm256_add_epi32(_mm256_add_epi32(k0.1, k1.1), k2.1)),
                            finish(_mm256_sub_epi32(_mm256_sub_epi32(k1.1, k2.1), k3.1))
                        )
                    }
                    let lo = tile(0), hi = tile(1)
                    let at = dst + b * 16
                    store16(requantize16AVX2(lo.0, hi.0, table: t, o), at, valid: valid)
                    if right { store16(requantize16AVX2(lo.1, hi.1, table: t, o), at + c, valid: valid) }
                    if below {
                        store16(requantize16AVX2(lo.2, hi.2, table: t, o), at + g.outW * c, valid: valid)
                        if right {
                            store16(requantize16AVX2(lo.3, hi.3, table: t, o), at + (g.outW + 1) * c, valid: valid)
                        }
                    }
                }
            }
        }
    }
}
#endif
