import FerccKernels
import FerccTestSupport
import Foundation
import XCTest

typealias Conv2DGeometry = Kernels.Conv2DGeometry
typealias Activation = Kernels.Activation
typealias Requantization = Kernels.Requantization
typealias KernelMath = Kernels.KernelMath
typealias QuantizedBinaryKernel = Kernels.QuantizedBinaryKernel
typealias Pool2DKernel = Kernels.Pool2DKernel
typealias ReduceOperation = Kernels.ReduceOperation

/// Kernels against naive reference loops, on shapes that hit every vector tail and pixel block.
final class KernelTests: XCTestCase {
    /// Packed weights and biases the kernels read in place, alive for the whole test.
    let pinned = PinnedWeights()

    /// Straightforward NHWC convolution with OHWI weights.
    func naiveConv(_ x: [Float], _ w: [Float], _ b: [Float], _ g: Conv2DGeometry) -> [Float] {
        var y = [Float](repeating: 0, count: g.batch * g.outH * g.outW * g.outC)
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    for o in 0..<g.outC {
                        let grp = o / cog
                        var acc = Double(b[o])
                        for kh in 0..<g.kernelH {
                            for kw in 0..<g.kernelW {
                                let ih = oh * g.strideH - g.padTop + kh * g.dilationH,
                                    iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                                for ci in 0..<cig {
                                    acc +=
                                        Double(x[((n * g.inH + ih) * g.inW + iw) * g.inC + grp * cig + ci])
                                        * Double(w[((o * g.kernelH + kh) * g.kernelW + kw) * cig + ci])
                                }
                            }
                        }
                        y[((n * g.outH + oh) * g.outW + ow) * g.outC + o] = Float(acc)
                    }
                }
            }
        }
        return y
    }

    func geometry(
        _ n: Int, _ h: Int, _ w: Int, _ c: Int, _ oc: Int, k: Int, s: Int, d: Int, p: (Int, Int, Int, Int), groups: Int
    ) -> Conv2DGeometry {
        let oh = (h + p.0 + p.2 - (k - 1) * d - 1) / s + 1, ow = (w + p.1 + p.3 - (k - 1) * d - 1) / s + 1
        return Conv2DGeometry(
            input: (n, h, w, c), output: (oh, ow, oc), kernel: (k, k),
            stride: (s, s), dilation: (d, d), pads: (p.0, p.1, p.2, p.3), groups: groups)
    }

    func testConvolutionsAgainstNaiveLoops() {
        var rng = SeededRandom(1)
        let cases: [Conv2DGeometry] = [
            geometry(1, 7, 9, 3, 33, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 1),  // stem-like, channel tail
            geometry(2, 5, 6, 19, 16, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1),  // pointwise, exact block
            // grouped, asymmetric pads, dilation
            geometry(1, 6, 5, 8, 12, k: 3, s: 1, d: 2, p: (2, 0, 1, 2), groups: 4),
            geometry(1, 9, 11, 37, 37, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 37),  // depthwise, vector tail
            geometry(1, 8, 8, 32, 32, k: 5, s: 2, d: 1, p: (2, 2, 2, 2), groups: 32),  // depthwise 5x5 stride 2
            geometry(1, 5, 5, 4, 8, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 4),  // depth multiplier 2
            // rows of 23: 6 + 6 + 6 + 4 + 1 pixels
            geometry(1, 4, 23, 12, 40, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),
            // pointwise, 6-pixel blocks, channel tail
            geometry(2, 6, 19, 24, 17, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1),
            // 3x3 depthwise fast path + tail, stride 2
            geometry(1, 9, 23, 40, 40, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 40),
            geometry(1, 11, 17, 48, 48, k: 3, s: 1, d: 2, p: (2, 2, 2, 2), groups: 48),  // 3x3 depthwise, dilation 2
            // groups of 40: a pair of blocks (AVX-512) + 8, dilated
            geometry(2, 6, 7, 16, 80, k: 3, s: 1, d: 2, p: (2, 1, 2, 1), groups: 2),
            // 3x3 depthwise on 8 channels: the 8-lane fast path
            geometry(1, 6, 9, 8, 8, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 8),
            geometry(1, 5, 7, 27, 27, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 27),  // 16 + 8 + last 8 again
            // BlazeFace's stride-2 block on 28 channels (16 + 8 + last 8 again); 5 channels: scalar only
            geometry(1, 9, 10, 28, 28, k: 3, s: 2, d: 1, p: (0, 1, 0, 1), groups: 28),
            geometry(1, 6, 5, 5, 5, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 5),
            // 1 -> 8 and 1 -> 7 stems (AVX-512: pixel-pair tiles), 8 -> 8 (tap-pair tiles), odd widths
            geometry(1, 9, 30, 1, 8, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),
            geometry(2, 8, 28, 1, 7, k: 3, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1),
            geometry(1, 7, 11, 8, 8, k: 3, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1),
            // 24-channel stems over 3 (16 + 8; AVX-512: tap pairs ending on a single tap per row)
            geometry(1, 11, 13, 3, 24, k: 5, s: 2, d: 1, p: (1, 1, 2, 2), groups: 1),
            geometry(1, 9, 9, 3, 8, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 1),
            // 7x7 in groups of 104 (AVX-512: six blocks in pairs, then 8): the 49th pixel of the
            // pairs' six-pixel tiles four blocks at a time, then two
            geometry(1, 7, 7, 24, 208, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 2)
        ]
        for g in cases {
            let x = rng.floats(g.batch * g.inH * g.inW * g.inC)
            let w = rng.floats(g.outC * g.kernelH * g.kernelW * g.inputChannelsPerGroup)
            let b = rng.floats(g.outC)
            var y = [Float](repeating: .nan, count: g.batch * g.outH * g.outW * g.outC)
            // garbage: padding must be written
            var scratch = [Float](repeating: .nan, count: max(g.paddedInputCount, 1))
            pinned.convolution(g, weights: w, bias: b)(x, &y, &scratch)
            XCTAssertLessThanOrEqual(relativeError(y, naiveConv(x, w, b, g)), 1e-5, "\(g)")
        }
    }

    /// Winograd's F(2x2, 3x3) and F(4x4, 3x3) against the naive loops: odd sizes (tiles with
    /// one to three of their rows and columns outside the image), asymmetric pads, input and
    /// output channel tails, several bands (64 x 48 channels over 16 x 16 and 40 x 40) and one
    /// (512 channels, where the transformed weights outweigh the image), a batch of 2, and every
    /// kind of activation (in registers, and after the rows). Which convolutions it takes: 3x3,
    /// stride 1, dense, at least 32 channels each way and 4 x 4 pixels; 4 x 4 tiles from 16 x 16
    /// outputs.
    func testWinogradConvolutionAgainstNaiveLoops() throws {
        var rng = SeededRandom(11)
        let cases: [(Conv2DGeometry, Activation)] = [
            (geometry(1, 7, 7, 32, 32, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1), .identity),
            (geometry(2, 9, 6, 33, 40, k: 3, s: 1, d: 1, p: (0, 1, 2, 1), groups: 1), .relu),
            (geometry(1, 16, 16, 64, 48, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1), .clip(min: 0, max: 6)),
            (geometry(1, 7, 5, 512, 36, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1), .leakyRelu(alpha: 0.1)),
            (geometry(1, 10, 13, 40, 35, k: 3, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1), .hardSwish),
            (geometry(1, 41, 38, 64, 48, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1), .relu)
        ]
        for (g, a) in cases {
            XCTAssertTrue(Kernels.WinogradConv2DKernel.applies(g), "\(g)")
            XCTAssertEqual(Kernels.WinogradConv2DKernel.tileSize(g), g.outH >= 16 && g.outW >= 16 ? 4 : 2, "\(g)")
            let x = rng.floats(g.batch * g.inH * g.inW * g.inC)
            let w = rng.floats(g.outC * 9 * g.inC)
            let b = rng.floats(g.outC)
            var expected = naiveConv(x, w, b, g)
            expected.withUnsafeMutableBufferPointer { a.run($0.baseAddress!, $0.baseAddress!, count: $0.count) }
            for size in [2, 4] {
                let k = try XCTUnwrap(
                    Kernels.WinogradConv2DKernel(
                        geometry: g, weights: pinned.floats(w), bias: pinned.floats(b), activation: a, tileSize: size))
                var y = [Float](repeating: .nan, count: g.batch * g.outH * g.outW * g.outC)
                var scratch = [Float](repeating: .nan, count: k.scratchCount)
                k.run(input: x, output: &y, scratch: &scratch)
                XCTAssertLessThanOrEqual(relativeError(y, expected), size == 2 ? 1e-5 : 3e-5, "\(size) \(a) \(g)")
            }
        }
        let declined = [
            geometry(1, 9, 9, 32, 32, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 1),  // stride 2
            geometry(1, 9, 9, 32, 32, k: 3, s: 1, d: 2, p: (2, 2, 2, 2), groups: 1),  // dilated
            geometry(1, 9, 9, 64, 64, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 2),  // grouped
            geometry(1, 9, 9, 16, 64, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),  // few input channels
            geometry(1, 9, 9, 64, 8, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),  // few outputs
            geometry(1, 3, 9, 64, 64, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),  // 3 rows
            geometry(1, 9, 9, 64, 64, k: 5, s: 1, d: 1, p: (2, 2, 2, 2), groups: 1)  // 5x5
        ]
        for g in declined { XCTAssertFalse(Kernels.WinogradConv2DKernel.applies(g), "\(g)") }
    }

    /// An output pixel's bits do not depend on the tile it falls in: the last tile of a run may
    /// start early and compute again pixels the tile before it wrote (`blockTiles`), which must
    /// then write the same values. A 1x1 layer's pixel p reads input pixel p only, so rows of 1 to
    /// 39 pixels over the same input give every pixel the same bits, whatever the tiles: 8-lane
    /// blocks (8 channels), 16-lane ones (16) and a pair of blocks plus 8 (40), with a clip in
    /// registers and a NaN input; on AVX-512 8 channels over 12 take the tap-pair tiles (for every
    /// width) and over 1 channel the pixel-pair tiles (even widths from 24), whose pixels must
    /// equal the 8-lane tiles' (the other widths), and the last pixel of widths 6k + 1 is
    /// computed apart from the pairs' tiles, two blocks (40) or four and two (104) at a time.
    func testPixelsGetTheSameBitsInEveryTile() {
        var rng = SeededRandom(13)
        let widest = 39
        for (inC, outC) in [(12, 8), (12, 16), (12, 40), (12, 104), (1, 8), (1, 5)] {
            var x = rng.floats(widest * inC)
            x[3 * inC + inC / 2] = .nan
            let w = rng.floats(outC * inC), b = rng.floats(outC)
            func run(width: Int) -> [Float] {
                let g = geometry(1, 1, width, inC, outC, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
                var y = [Float](repeating: .infinity, count: width * outC)  // every pixel must be written
                var scratch = [Float](repeating: 0, count: 1)
                pinned.convolution(g, weights: w, bias: b, activation: .clip(min: -0.5, max: 0.5))(
                    Array(x.prefix(width * inC)), &y, &scratch)
                return y
            }
            let full = run(width: widest)
            XCTAssertTrue(full.contains { $0.isNaN } && !full.contains(.infinity), "\(inC) -> \(outC)")
            for width in 1..<widest {
                XCTAssertEqual(
                    run(width: width).map(\.bitPattern), full.prefix(width * outC).map(\.bitPattern),
                    "\(inC) -> \(outC) width \(width)")
            }
        }
    }

    /// An infinite input gives infinite outputs in its window and no NaN anywhere, in every kind
    /// of tile of blocks of 8 channels (positive weights): on AVX-512 the tap-pair tiles' single
    /// last tap of a run must not multiply the infinity by the zero weight of its odd lanes.
    func testInfiniteInputGivesInfiniteOutputsOnly() {
        var rng = SeededRandom(19)
        for (inC, outC) in [(3, 8), (1, 8), (8, 8), (3, 24), (1, 5)] {
            let g = geometry(1, 6, 26, inC, outC, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1)
            var x = [Float](repeating: 1, count: g.inH * g.inW * inC)
            for c in 0..<inC { x[(2 * g.inW + 7) * inC + c] = .infinity }
            let w = rng.floats(outC * 9 * inC).map { abs($0) + 0.1 }, b = [Float](repeating: 0, count: outC)
            var y = [Float](repeating: 0, count: g.outH * g.outW * outC)
            var scratch = [Float](repeating: 0, count: g.paddedInputCount)
            pinned.convolution(g, weights: w, bias: b)(x, &y, &scratch)
            XCTAssertEqual(y.filter(\.isNaN).count, 0, "\(inC) -> \(outC)")
            XCTAssertEqual(y.filter { $0 == .infinity }.count, 9 * outC, "\(inC) -> \(outC)")
        }
    }

    /// Every depthwise output is the bias, then its taps (padding's zeros included) in kernel
    /// order, each one multiply-add, whichever path computed it: four-pixel tiles (with AVX2, 8
    /// channels at a time at stride 1), the tile moved back over a row's last 1-3 pixels, single
    /// pixels, 16 channels, 8, and the last 8 again; pixels read in place or, where their windows
    /// cross the padding, from a padded copy. So a pixel's bits do not depend on the row's width
    /// or on where the padding is, and the fused kernels, which run it over bands, match the
    /// unfused ones. Rows of 1 to 11 pixels (some with no pixel clear of the padding), 3x3 and
    /// 5x5, stride 1 and 2, dilation 2, asymmetric and no padding, a batch of 2, a NaN input and
    /// NaN scratch. Below 8 channels (the scalar loop) each tap is a multiply, then an add.
    func testDepthwiseOutputsAreTheirTapsInOrder() {
        var rng = SeededRandom(17)
        // kernel, stride, dilation, pads (top, left, bottom, right), batch
        let shapes: [(Int, Int, Int, (Int, Int, Int, Int), Int)] = [
            (3, 1, 1, (1, 1, 1, 1), 1), (3, 2, 1, (1, 1, 1, 1), 1), (5, 2, 1, (1, 1, 2, 2), 2),
            (5, 1, 1, (2, 2, 2, 2), 1), (3, 1, 2, (2, 0, 1, 3), 2), (3, 1, 1, (0, 0, 0, 0), 1),
            (3, 2, 1, (0, 1, 1, 0), 1)
        ]
        for (k, s, d, p, batch) in shapes {
            for c in [3, 8, 24, 27, 40] {
                for width in 1...11 {
                    let h = 5
                    let g = geometry(batch, h, width, c, c, k: k, s: s, d: d, p: p, groups: c)
                    guard g.outW > 0 && g.outH > 0 else { continue }
                    var x = rng.floats(batch * h * width * c)
                    x[c + 3] = .nan
                    let w = rng.floats(c * k * k), b = rng.floats(c)
                    var y = [Float](repeating: .infinity, count: batch * g.outH * g.outW * c)
                    let kernel = Kernels.DepthwiseConv2DKernel(
                        geometry: g, packed: pinned.packed(g, w), bias: pinned.floats(b))
                    var scratch = [Float](repeating: .nan, count: max(kernel.scratchCount, 1))
                    XCTAssertLessThanOrEqual(kernel.scratchCount, g.paddedInputCount)
                    kernel.run(input: x, output: &y, scratch: &scratch)
                    var want = y
                    for n in 0..<batch {
                        for oh in 0..<g.outH {
                            for ow in 0..<g.outW {
                                for o in 0..<c {
                                    var acc = b[o]
                                    for kh in 0..<k {
                                        for kw in 0..<k {
                                            let ih = oh * s - p.0 + kh * d, iw = ow * s - p.1 + kw * d
                                            let v =
                                                ih >= 0 && ih < h && iw >= 0 && iw < width
                                                ? x[((n * h + ih) * width + iw) * c + o] : 0
                                            let tap = w[o * k * k + kh * k + kw]
                                            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
                                            acc = c < 8 ? acc + v * tap : acc.addingProduct(v, tap)
                                            #else
                                            acc = acc + v * tap
                                            #endif
                                        }
                                    }
                                    want[((n * g.outH + oh) * g.outW + ow) * c + o] = acc
                                }
                            }
                        }
                    }
                    XCTAssertEqual(
                        y.map(\.bitPattern), want.map(\.bitPattern),
                        "c \(c) kernel \(k) stride \(s) dilation \(d) pads \(p) batch \(batch) width \(width)")
                }
            }
        }
    }

    /// The fused depthwise + 1x1 kernel gives exactly what the two kernels give in turn, with
    /// bands of one row, a few rows and the whole image, NaN scratch, asymmetric padding, stride 2
    /// and a batch of 2.
    func testDepthwisePointwiseEqualsTheTwoConvolutions() {
        var rng = SeededRandom(23)
        for dg in [
            geometry(2, 9, 11, 24, 24, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 24),
            geometry(1, 10, 9, 28, 28, k: 5, s: 2, d: 1, p: (1, 1, 2, 2), groups: 28),
            geometry(1, 6, 3, 8, 8, k: 5, s: 1, d: 1, p: (2, 2, 2, 2), groups: 8)
        ] {
            let out = 20, e = dg.inC
            let x = rng.floats(dg.batch * dg.inH * dg.inW * e)
            let dw = rng.floats(e * dg.kernelH * dg.kernelW), db = rng.floats(e)
            let pw = rng.floats(out * e), pb = rng.floats(out)
            let relu6 = Activation.clip(min: 0, max: 6)
            var mid = [Float](repeating: 0, count: dg.batch * dg.outH * dg.outW * e)
            var expected = [Float](repeating: 0, count: dg.batch * dg.outH * dg.outW * out)
            var scratch = [Float](repeating: .nan, count: max(dg.paddedInputCount, 1))
            pinned.convolution(dg, weights: dw, bias: db, activation: relu6)(x, &mid, &scratch)
            let pg = geometry(dg.batch, dg.outH, dg.outW, e, out, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
            pinned.convolution(pg, weights: pw, bias: pb)(mid, &expected, &scratch)
            for bandBytes in [1, 4096, 1 << 20] {
                let k = Kernels.DepthwisePointwiseKernel(
                    depthwise: dg, packedDepthwise: pinned.packed(dg, dw), depthwiseBias: pinned.floats(db),
                    depthwiseActivation: relu6,
                    packedPointwise: pinned.packed(
                        Kernels.DepthwisePointwiseKernel.pointwiseGeometry(dg, rows: 1, outChannels: out), pw),
                    pointwiseBias: pinned.floats(pb), outChannels: out, bandBytes: bandBytes)
                var y = [Float](repeating: .nan, count: expected.count)
                var s = [Float](repeating: .nan, count: k.scratchCount)
                k.run(input: x, output: &y, scratch: &s)
                XCTAssertEqual(
                    zip(y, expected).filter { $0 != $1 }.count, 0, "elements differing, \(dg) band \(bandBytes)")
            }
        }
    }

    /// A residual add fused into the depthwise + 1x1 kernel (added in the 1x1 tiles' stores off
    /// AArch64, after each band there and for row activations) gives the bits of the two
    /// convolutions, then the add of the residual (zero beyond its channels), then the
    /// activation: every kind of tile (32-channel pairs, single blocks, 8-channel tap pairs), a
    /// residual narrower than the output ending inside a block, bands of one row to the whole
    /// image, a batch of 2, and the 1x1 convolution's own clamp before the add.
    func testResidualAddInTheStoresEqualsTheAddAfter() {
        var rng = SeededRandom(29)
        let cases: [(Conv2DGeometry, Int, Int, Activation)] = [
            (geometry(2, 9, 11, 24, 24, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 24), 40, 40, .identity),
            (geometry(2, 9, 11, 24, 24, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 24), 40, 35, .relu),
            (geometry(1, 10, 9, 28, 28, k: 5, s: 2, d: 1, p: (1, 1, 2, 2), groups: 28), 24, 19, .clip(min: 0, max: 6)),
            (geometry(1, 10, 9, 28, 28, k: 5, s: 2, d: 1, p: (1, 1, 2, 2), groups: 28), 28, 24, .hardSwish),
            (geometry(1, 6, 13, 8, 8, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 8), 20, 20, .relu)
        ]
        for (dg, out, rc, act) in cases {
            for pointwiseActivation in [Activation.identity, .relu] {
                let e = dg.inC, pixels = dg.batch * dg.outH * dg.outW
                let x = rng.floats(dg.batch * dg.inH * dg.inW * e), r = rng.floats(pixels * rc)
                let dw = rng.floats(e * dg.kernelH * dg.kernelW), db = rng.floats(e)
                let pw = rng.floats(out * e), pb = rng.floats(out)
                var mid = [Float](repeating: 0, count: pixels * e)
                var expected = [Float](repeating: 0, count: pixels * out)
                var scratch = [Float](repeating: .nan, count: max(dg.paddedInputCount, 1))
                pinned.convolution(dg, weights: dw, bias: db)(x, &mid, &scratch)
                let pg = geometry(dg.batch, dg.outH, dg.outW, e, out, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
                pinned.convolution(pg, weights: pw, bias: pb, activation: pointwiseActivation)(mid, &expected, &scratch)
                for q in 0..<pixels {
                    for c in 0..<out {
                        expected[q * out + c] = act.apply(expected[q * out + c] + (c < rc ? r[q * rc + c] : 0))
                    }
                }
                for bandBytes in [1, 4096, 1 << 20] {
                    let k = Kernels.DepthwisePointwiseKernel(
                        depthwise: dg, packedDepthwise: pinned.packed(dg, dw), depthwiseBias: pinned.floats(db),
                        packedPointwise: pinned.packed(
                            Kernels.DepthwisePointwiseKernel.pointwiseGeometry(dg, rows: 1, outChannels: out), pw),
                        pointwiseBias: pinned.floats(pb), outChannels: out, pointwiseActivation: pointwiseActivation,
                        bandBytes: bandBytes)
                    var y = [Float](repeating: .nan, count: expected.count)
                    var s = [Float](repeating: .nan, count: k.scratchCount)
                    Kernels.run(
                        k, input: x, output: &y, scratch: &s,
                        residual: Kernels.ResidualAdd(pinned.floats(r), channels: rc, activation: act))
                    XCTAssertEqual(
                        zip(y, expected).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                        "elements differing, \(dg) -> \(out), residual \(rc), \(act), 1x1 \(pointwiseActivation), band \(bandBytes)"
                    )
                }
            }
        }
    }

    /// A convolution given an activation (ReLU and clip applied in registers, the others row by
    /// row) gives exactly what the convolution followed by `Activation.run` gives, NaN included,
    /// on every tile size, channel tail and depthwise path.
    func testConvolutionActivationsEqualTheActivationAfterwards() {
        var rng = SeededRandom(7)
        let cases: [Conv2DGeometry] = [
            // 6 + 4 + 1 pixel tiles, channel tail
            geometry(1, 4, 23, 12, 40, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 1),
            geometry(2, 3, 13, 19, 8, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1),  // pointwise, a partial block only
            // 3x3 depthwise fast path + tail (the last 8 channels again)
            geometry(1, 9, 23, 40, 40, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 40),
            geometry(1, 8, 8, 20, 20, k: 5, s: 1, d: 1, p: (2, 2, 2, 2), groups: 20),  // general depthwise + tail
            geometry(1, 5, 6, 6, 6, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 6)  // below 8 channels: scalar
        ]
        let activations: [Activation] = [
            .relu, .clip(min: 0, max: 6), .clip(min: 0.5, max: -0.5), .leakyRelu(alpha: 0.1), .hardSwish
        ]
        func same(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) } }
        for g in cases {
            var x = rng.floats(g.batch * g.inH * g.inW * g.inC).map { $0 * 8 }
            x[5] = .nan  // reaches a few outputs of every kind of tile
            let w = rng.floats(g.outC * g.kernelH * g.kernelW * g.inputChannelsPerGroup)
            let b = rng.floats(g.outC)
            func run(_ a: Activation) -> [Float] {
                var y = [Float](repeating: 0, count: g.batch * g.outH * g.outW * g.outC)
                var scratch = [Float](repeating: 0, count: max(g.paddedInputCount, 1))
                pinned.convolution(g, weights: w, bias: b, activation: a)(x, &y, &scratch)
                return y
            }
            let plain = run(.identity)
            XCTAssertTrue(
                plain.contains { $0.isNaN } && plain.contains { $0 < -1 } && plain.contains { $0 > 6 }, "\(g)")
            for a in activations {
                var expected = plain
                expected.withUnsafeMutableBufferPointer { a.run($0.baseAddress!, $0.baseAddress!, count: $0.count) }
                XCTAssertTrue(same(run(a), expected), "\(a) \(g)")
            }
        }
        // clip with min > max gives max everywhere (ONNX Clip)
        var v: [Float] = [-3, 0, 3, .infinity]
        v.withUnsafeMutableBufferPointer {
            Activation.clip(min: 1, max: -1).run($0.baseAddress!, $0.baseAddress!, count: 4)
        }
        XCTAssertEqual(v, [-1, -1, -1, -1])
    }

    /// A 1x1 convolution run over a range of pixels with output rows `outputRowPitch` apart (the
    /// fused expansion's padded block rows) writes each pixel the dense run's bits at its place in
    /// the wider rows, and nothing in the pad columns or outside the range: ranges starting and
    /// ending mid-row, 48 channels (AVX-512 pairs of blocks, then one), 24 and 8, rows of 7 and 5
    /// pixels, with a clamp in the tiles and with an activation run per row.
    func testConvolutionWritesPitchedRowsInPlace() {
        var rng = SeededRandom(13)
        let cases: [(h: Int, w: Int, inC: Int, outC: Int, pitch: Int)] = [
            (5, 7, 16, 48, 9), (4, 5, 6, 24, 8), (6, 7, 5, 8, 10)
        ]
        let activations: [Activation] = [.clip(min: 0, max: 6), .leakyRelu(alpha: 0.1), .identity]
        for (h, w, inC, outC, pitch) in cases {
            let g = geometry(1, h, w, inC, outC, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
            let x = rng.floats(h * w * inC).map { $0 * 4 }
            let weights = rng.floats(outC * inC), b = rng.floats(outC)
            for a in activations {
                var dense = [Float](repeating: 0, count: h * w * outC)
                var scratch = [Float](repeating: 0, count: 1)
                pinned.convolution(g, weights: weights, bias: b, activation: a)(x, &dense, &scratch)
                let k = Kernels.Conv2DKernel(
                    geometry: g, packed: pinned.packed(g, weights), bias: pinned.floats(b), activation: a,
                    outputRowPitch: pitch)
                for range in [0..<(h * w), 3..<(h * w - 2), (w + 1)..<(w + 2), 2..<(2 * w + 4)] {
                    var y = [Float](repeating: .nan, count: h * pitch * outC)
                    y.withUnsafeMutableBufferPointer { out in
                        if case .clip(let low, let high) = a {
                            k.run(
                                input: x, output: out.baseAddress!, pixels: range,
                                clamp: Kernels.ClipClamp(low: low, high: high))
                        } else {
                            k.run(input: x, output: out.baseAddress!, pixels: range, clamp: Kernels.NoClamp())
                        }
                    }
                    var differing = 0
                    for r in 0..<h {
                        for c in 0..<pitch {
                            let p = r * w + c
                            for o in 0..<outC {
                                let got = y[(r * pitch + c) * outC + o]
                                let inside = c < w && range.contains(p)
                                if inside ? got.bitPattern != dense[p * outC + o].bitPattern : !got.isNaN {
                                    differing += 1
                                }
                            }
                        }
                    }
                    XCTAssertEqual(differing, 0, "\(a) \(h)x\(w)x\(outC) pitch \(pitch) pixels \(range)")
                }
            }
        }
    }

    /// The fused expansion + depthwise + projection kernel gives exactly what the three kernels
    /// give in turn, with bands of one row (every band carries rows over from the previous one),
    /// stride 2, 5x5 with dilation, asymmetric padding and a batch of 2.
    func testExpandDepthwisePointwiseEqualsTheThreeConvolutions() {
        var rng = SeededRandom(11)
        // batch, h, w, in, out, depthwise geometry over the expansion
        let cases: [(Int, Int, Int, Int, Int, Conv2DGeometry)] = [
            (1, 9, 11, 5, 7, geometry(1, 9, 11, 24, 24, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 24)),
            (2, 10, 7, 8, 16, geometry(2, 10, 7, 20, 20, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 20)),
            (1, 12, 10, 3, 9, geometry(1, 12, 10, 17, 17, k: 5, s: 1, d: 2, p: (4, 3, 2, 4), groups: 17)),
            // Expansions of 48 and 40 channels (x86: pairs of 16-channel blocks, then one block) over
            // rows of 7 and of 5 pixels (tiles across several padded block rows).
            (1, 7, 7, 16, 24, geometry(1, 7, 7, 48, 48, k: 3, s: 1, d: 1, p: (1, 1, 1, 1), groups: 48)),
            (2, 14, 5, 6, 8, geometry(2, 14, 5, 40, 40, k: 3, s: 2, d: 1, p: (1, 1, 1, 1), groups: 40))
        ]
        for (index, (batch, h, w, c, out, dg)) in cases.enumerated() {
            let e = dg.inC
            let eg = geometry(batch, h, w, c, e, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
            let x = rng.floats(batch * h * w * c).map { $0 * 4 }
            let ew = rng.floats(e * c), eb = rng.floats(e), dw = rng.floats(e * dg.kernelH * dg.kernelW),
                db = rng.floats(e)
            let pw = rng.floats(out * e), pb = rng.floats(out)
            let relu6 = Activation.clip(min: 0, max: 6)
            // The last case's expansion has an activation the tiles do not clamp (run per row).
            let expandActivation = index == cases.count - 1 ? Activation.leakyRelu(alpha: 0.1) : relu6
            var expanded = [Float](repeating: 0, count: batch * h * w * e)
            var mid = [Float](repeating: 0, count: batch * dg.outH * dg.outW * e)
            var expected = [Float](repeating: 0, count: batch * dg.outH * dg.outW * out)
            var scratch = [Float](repeating: 0, count: 1 << 16)
            pinned.convolution(eg, weights: ew, bias: eb, activation: expandActivation)(x, &expanded, &scratch)
            pinned.convolution(dg, weights: dw, bias: db, activation: relu6)(expanded, &mid, &scratch)
            let pg = geometry(batch, dg.outH, dg.outW, e, out, k: 1, s: 1, d: 1, p: (0, 0, 0, 0), groups: 1)
            pinned.convolution(pg, weights: pw, bias: pb, activation: .leakyRelu(alpha: 0.1))(mid, &expected, &scratch)
            for blockBytes in [1, 4096, 1 << 20] {  // one-row bands, a few rows, the whole image
                let expandGeometry = Kernels.ExpandDepthwisePointwiseKernel.expandGeometry(depthwise: dg, inChannels: c)
                let pointwiseGeometry = Kernels.DepthwisePointwiseKernel.pointwiseGeometry(
                    dg, rows: 1, outChannels: out)
                let k = Kernels.ExpandDepthwisePointwiseKernel(
                    expandChannelsFrom: c, packedExpand: pinned.packed(expandGeometry, ew),
                    expandBias: pinned.floats(eb), expandActivation: expandActivation,
                    depthwise: dg, packedDepthwise: pinned.packed(dg, dw), depthwiseBias: pinned.floats(db),
                    depthwiseActivation: relu6,
                    packedPointwise: pinned.packed(pointwiseGeometry, pw), pointwiseBias: pinned.floats(pb),
                    outChannels: out,
                    pointwiseActivation: .leakyRelu(alpha: 0.1), blockBytes: blockBytes)
                var y = [Float](repeating: .nan, count: expected.count)
                // garbage in the scratch must not leak into the result
                var s = [Float](repeating: .nan, count: k.scratchCount)
                k.run(input: x, output: &y, scratch: &s)
                XCTAssertEqual(
                    zip(y, expected).filter { $0 != $1 }.count, 0, "elements differing, \(dg) block \(blockBytes)")
            }
        }
    }

    /// The int8 convolution's paths (exact float, int32 vectors, reference loop; in AVX2 builds the
    /// AVX2 kernels instead of the first two) against TFLite's reference arithmetic written out
    /// naively: equal outputs, bit for bit.
    func testInt8ConvolutionPathsAgainstNaiveReference() {
        var rng = SeededRandom(11)
        func check(
            inC: Int, outC: Int, k: Int, stride: Int, pad: Int, groups: Int, big: Bool, gain: Double = 1,
            dilation d: Int = 1, h: Int = 9, w: Int = 7,
            hugeBias: Bool = false, powerOfTwoScales: Int? = nil, lo: Int32 = -128, hi: Int32 = 127,
            tiny: Bool = false, float: Bool
        ) {
            let outH = (h + 2 * pad - d * (k - 1) - 1) / stride + 1, outW = (w + 2 * pad - d * (k - 1) - 1) / stride + 1
            let g = Conv2DGeometry(
                input: (1, h, w, inC), output: (outH, outW, outC), kernel: (k, k),
                stride: (stride, stride), dilation: (d, d), pads: (pad, pad, pad, pad), groups: groups)
            let cig = inC / groups
            // tiny: sums of a few units (weights of -1 to 1, inputs within 3 of the zero point, small
            // biases), so that with power-of-two scales many land on the ties just below zero.
            let weights = (0..<(outC * k * k * cig)).map { _ in
                Int8(big ? (rng.next() > 0 ? 127 : -127) : Int((rng.next() * (tiny ? 1.4 : 40)).rounded()))
            }
            // hugeBias: channels 0 and 1 with accumulators that could reach 2^31, which sends the
            // whole kernel to the AVX-512 requantization's general rounding path.
            let bias = (0..<outC).map { oc in
                Int32(rng.next() * (tiny ? 4 : 5000))
                    + (hugeBias && oc < 2 ? (oc == 0 ? 1 : -1) * (Int32.max - 300_000) : 0)
            }
            let input = (0..<(h * w * inC)).map { _ in
                Int8(
                    max(-128, min(127, tiny ? 7 + Int((rng.next() * 3).rounded()) : Int((rng.next() * 128).rounded()))))
            }
            var scales = (0..<outC).map { _ in Double(0.0005 + 0.0004 * abs(rng.next())) / (big ? 40 : 1) * gain }
            // Scales of 2^-e: many sums fall exactly halfway between two outputs (rounding ties).
            if let e = powerOfTwoScales { scales = (0..<outC).map { oc in 1 / Double(1 << (e + oc % 4)) } }
            let rq = Requantization(scales: scales, outputZeroPoint: -3, min: lo, max: hi, float: float)
            let kernel = Int8Convolution(
                Kernels.QuantizedConvParameters(
                    geometry: g, weights: weights, bias: bias, inputZeroPoint: 7,
                    requantization: rq))
            // 64 guard bytes after the output: no kernel path may write past it.
            var guarded = [Int8](repeating: 0x5A, count: outH * outW * outC + 64)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(kernel.scratchBytes, 1), alignment: 64)
            defer { scratch.deallocate() }
            // Garbage in the scratch: a padded copy must write every byte the kernel reads.
            scratch.initializeMemory(as: UInt8.self, repeating: 0xA5, count: max(kernel.scratchBytes, 1))
            input.withUnsafeBufferPointer { x in
                guarded.withUnsafeMutableBufferPointer { y in
                    kernel.run(input: x.baseAddress!, output: y.baseAddress!, scratch: scratch)
                }
            }
            XCTAssertEqual(Array(guarded.suffix(64)), [Int8](repeating: 0x5A, count: 64), "written past the output")
            let got = Array(guarded.prefix(outH * outW * outC))
            var want = [Int8](repeating: 0, count: got.count)
            for oy in 0..<outH {
                for ox in 0..<outW {
                    for oc in 0..<outC {
                        var acc: Int32 = 0
                        let grp = oc / (outC / groups)
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let y = oy * stride - pad + ky * d, x = ox * stride - pad + kx * d
                                guard y >= 0, y < h, x >= 0, x < w else { continue }
                                for ci in 0..<cig {
                                    acc +=
                                        Int32(weights[((oc * k + ky) * k + kx) * cig + ci])
                                        * (Int32(input[(y * w + x) * inC + grp * cig + ci]) - 7)
                                }
                            }
                        }
                        want[(oy * outW + ox) * outC + oc] = Int8(rq.apply(acc + bias[oc], channel: oc))
                    }
                }
            }
            XCTAssertEqual(
                got, want,
                "inC \(inC) outC \(outC) k \(k) stride \(stride) groups \(groups) big \(big) dilation \(d) "
                    + "clamp \(lo)...\(hi) float \(float)"
            )
        }
        // TFLite's fixed-point requantization (imported models), then fercc's float scaling
        // (graphs it quantized itself): every path against `Requantization.apply`.
        for float in [false, true] {
            check(inC: 20, outC: 37, k: 3, stride: 2, pad: 1, groups: 1, big: false, float: float)  // exact float path
            check(inC: 20, outC: 37, k: 1, stride: 1, pad: 0, groups: 1, big: false, float: float)
            // sums past 2^24: int32 path
            check(inC: 700, outC: 19, k: 1, stride: 1, pad: 0, groups: 1, big: true, float: float)
            check(inC: 90, outC: 21, k: 3, stride: 1, pad: 1, groups: 1, big: true, float: float)
            check(inC: 24, outC: 24, k: 3, stride: 2, pad: 1, groups: 24, big: false, float: float)  // depthwise
            // grouped: reference loop
            check(inC: 12, outC: 24, k: 3, stride: 1, pad: 1, groups: 4, big: false, float: float)
            // 6 channels into a 16-byte pixel (the padded copy: a word and an overlapping word), 72
            // into a 96-byte one (a memmove per pixel)
            check(inC: 6, outC: 6, k: 3, stride: 1, pad: 1, groups: 6, big: false, float: float)
            check(inC: 72, outC: 72, k: 3, stride: 1, pad: 1, groups: 72, big: false, float: float)
            // 1 x 1 over 10 channels (VNNI: copied into 12-byte pixels, a word and an overlapping word)
            check(inC: 10, outC: 20, k: 1, stride: 1, pad: 0, groups: 1, big: false, float: float)
            // odd channel count (AVX2: a zero pair half)
            check(inC: 5, outC: 33, k: 3, stride: 1, pad: 1, groups: 1, big: false, float: float)
            // odd tap count, partial block
            check(inC: 37, outC: 37, k: 5, stride: 1, pad: 2, groups: 37, big: false, float: float)
            check(inC: 16, outC: 16, k: 3, stride: 1, pad: 0, groups: 16, big: false, float: float)  // no padding copy
            // multipliers above 1: left shifts
            check(inC: 8, outC: 20, k: 1, stride: 1, pad: 0, groups: 1, big: false, gain: 3000, float: float)
            check(inC: 20, outC: 20, k: 3, stride: 2, pad: 1, groups: 20, big: false, gain: 3000, float: float)
            // multipliers in [0.5, 1): no shift at all
            check(inC: 8, outC: 20, k: 1, stride: 1, pad: 0, groups: 1, big: false, gain: 1000, float: float)
            check(inC: 20, outC: 20, k: 3, stride: 2, pad: 1, groups: 20, big: false, gain: 1000, float: float)
            // one whole block: 4 adjacent pixels per store (AVX-512)
            check(inC: 24, outC: 16, k: 1, stride: 1, pad: 0, groups: 1, big: false, float: float)
            // 12 pixels: 6-pixel tiles end the output, partial second block
            check(inC: 10, outC: 24, k: 3, stride: 2, pad: 0, groups: 1, big: false, float: float)
            // 48 pixels: 8-pixel tiles end it on a partial single block
            check(inC: 6, outC: 40, k: 2, stride: 1, pad: 0, groups: 1, big: false, float: float)
            // 143 pixels: chunks of 64, 64 and 15, each ending on a tile that overlaps the one before
            // (VNNI: two-block and single-block tiles); 4 pixels: too few for any tile
            check(inC: 20, outC: 40, k: 1, stride: 1, pad: 2, groups: 1, big: false, float: float)
            check(inC: 8, outC: 40, k: 3, stride: 4, pad: 0, groups: 1, big: false, float: float)
            // gray stem (VNNI: a kernel row's three bytes in one quad; 8 outputs: 256-bit tiles of 16
            // pixels, requantized two pixels at a time), over chunks of 64 ending on overlapping
            // tiles and a last chunk of 13 pixels one at a time
            check(inC: 1, outC: 8, k: 3, stride: 1, pad: 1, groups: 1, big: false, float: float)
            check(inC: 1, outC: 8, k: 3, stride: 1, pad: 1, groups: 1, big: false, h: 23, w: 11, float: float)
            check(
                inC: 8, outC: 8, k: 3, stride: 1, pad: 1, groups: 1, big: false, h: 23, w: 11, powerOfTwoScales: 3,
                float: float)
            check(
                inC: 8, outC: 8, k: 3, stride: 1, pad: 1, groups: 1, big: false, gain: 0.00001, hugeBias: true,
                float: float)
            check(inC: 1, outC: 8, k: 3, stride: 4, pad: 0, groups: 1, big: false, float: float)  // 6 pixels
            // fewer than 8 outputs (a 7-class head; 5 from two channels, rows packed in 5 x 5)
            check(inC: 12, outC: 7, k: 3, stride: 1, pad: 0, groups: 1, big: false, float: float)
            check(inC: 2, outC: 5, k: 5, stride: 1, pad: 2, groups: 1, big: true, h: 13, w: 9, float: float)
            // RGB 7 x 7 stem at stride 2 (rows packed: 21 bytes in six quads)
            check(inC: 3, outC: 16, k: 7, stride: 2, pad: 3, groups: 1, big: false, h: 21, w: 19, float: float)
            // RGB stem, a block of 16 and one of 8
            check(inC: 3, outC: 24, k: 3, stride: 2, pad: 1, groups: 1, big: true, float: float)
            // RGB rows of 37 pixels: two 16-pixel steps of the VNNI copy, then 4-byte and last pixels
            check(inC: 3, outC: 24, k: 3, stride: 2, pad: 1, groups: 1, big: false, h: 5, w: 37, float: float)
            // a run per tap
            check(inC: 6, outC: 17, k: 3, stride: 1, pad: 2, groups: 1, big: false, dilation: 2, float: float)
            // depthwise, dilated
            check(inC: 8, outC: 8, k: 3, stride: 1, pad: 2, groups: 8, big: false, dilation: 2, float: float)
            // 8- and 16-channel depthwise rows at stride 1 (AVX-512 builds: four pixels on 512-bit lanes),
            // with ties under both roundings and the general rounding.
            check(inC: 8, outC: 8, k: 3, stride: 1, pad: 1, groups: 8, big: false, float: float)
            // 8 channels, eight pixels at a time: rows of 19 (8 + 8 + 3, the last with masked loads and
            // stores) without a padded copy, and 5 x 5 (an odd tap count) padded
            check(inC: 8, outC: 8, k: 3, stride: 1, pad: 0, groups: 8, big: false, h: 11, w: 21, float: float)
            check(
                inC: 8, outC: 8, k: 5, stride: 1, pad: 2, groups: 8, big: true, h: 6, w: 19, powerOfTwoScales: 2,
                float: float)
            check(inC: 16, outC: 16, k: 3, stride: 1, pad: 1, groups: 16, big: true, powerOfTwoScales: 3, float: float)
            check(
                inC: 8, outC: 8, k: 3, stride: 1, pad: 1, groups: 8, big: false, hugeBias: true, powerOfTwoScales: 3,
                float: float)
            check(
                inC: 16, outC: 16, k: 5, stride: 1, pad: 2, groups: 16, big: false, gain: 0.00001, hugeBias: true,
                float: float)
            check(
                inC: 20, outC: 37, k: 3, stride: 1, pad: 1, groups: 1, big: false, gain: 0.00001, hugeBias: true,
                float: float)
            check(inC: 20, outC: 37, k: 3, stride: 1, pad: 1, groups: 1, big: false, powerOfTwoScales: 6, float: float)
            check(inC: 40, outC: 40, k: 3, stride: 1, pad: 1, groups: 40, big: false, powerOfTwoScales: 3, float: float)
            check(
                inC: 20, outC: 37, k: 3, stride: 1, pad: 1, groups: 1, big: false, hugeBias: true, powerOfTwoScales: 6,
                float: float)
            check(
                inC: 40, outC: 40, k: 3, stride: 1, pad: 1, groups: 40, big: false, hugeBias: true, powerOfTwoScales: 3,
                float: float)
            check(
                inC: 40, outC: 40, k: 3, stride: 1, pad: 1, groups: 40, big: false, gain: 0.00001, hugeBias: true,
                float: float)
            // Integer Winograd (AVX2 builds): 3x3 stride 1 over 16k input channels, 9 x 7 (tiles half
            // outside), a partial block; +-127 weights (the largest transformed ones) over 1024 channels
            // (the largest sums it takes); rounding ties; the general rounding; no padding; pads of 2.
            check(inC: 32, outC: 37, k: 3, stride: 1, pad: 1, groups: 1, big: true, float: float)
            check(inC: 1024, outC: 32, k: 3, stride: 1, pad: 1, groups: 1, big: true, float: float)
            check(inC: 48, outC: 48, k: 3, stride: 1, pad: 1, groups: 1, big: false, powerOfTwoScales: 6, float: float)
            check(
                inC: 32, outC: 33, k: 3, stride: 1, pad: 1, groups: 1, big: false, gain: 0.00001, hugeBias: true,
                float: float)
            check(inC: 64, outC: 32, k: 3, stride: 1, pad: 0, groups: 1, big: false, float: float)
            check(inC: 32, outC: 32, k: 3, stride: 1, pad: 2, groups: 1, big: false, gain: 3000, float: float)
            // Pixel chunks and tiles: a 7 x 7 map (seven-pixel tiles of 32 channels), 14 x 14 (chunks
            // of 48, 48, 48 and 52; 6- and 8-pixel tiles, each chunk's last one overlapping), 8 x 13
            // (48 and 56: the last chunk in seven-pixel tiles).
            check(inC: 24, outC: 64, k: 1, stride: 1, pad: 0, groups: 1, big: false, h: 7, w: 7, float: float)
            check(inC: 16, outC: 48, k: 3, stride: 1, pad: 1, groups: 1, big: true, h: 14, w: 14, float: float)
            check(inC: 8, outC: 40, k: 3, stride: 1, pad: 1, groups: 1, big: false, h: 8, w: 13, float: float)
            // Clamps from the zero point (-3) up (ReLU, ReLU6: the folded rounding leaves out its
            // [a < 0]) and from just below it (it must not), over sums of a few units and their ties
            // (those just below zero decide the byte at the zero point): 1x1 and 3x3 dense, sliding
            // and 5x5 depthwise on 512-bit lanes, 8 channels on 256-bit ones, Winograd (AVX2 builds).
            let clampShapes = [
                (24, 40, 1, 0, 1), (20, 37, 3, 1, 1), (40, 40, 3, 1, 40), (37, 37, 5, 2, 37),
                (8, 8, 3, 1, 8), (32, 32, 3, 1, 1)
            ]
            for (lo, hi): (Int32, Int32) in [(-3, 127), (-3, 40), (10, 127), (-4, 127)] {
                for (inC, outC, k, pad, groups) in clampShapes {
                    check(
                        inC: inC, outC: outC, k: k, stride: 1, pad: pad, groups: groups, big: false,
                        powerOfTwoScales: 2, lo: lo, hi: hi, tiny: true, float: float)
                }
            }
        }
    }

    /// The fused int8 depthwise+pointwise kernel gives the two kernels' bytes (banded in AVX2 builds:
    /// row counts that do not divide into bands in the last two shapes, which the others fit in
    /// one band; odd channel counts, stride 2; in AVX-512 builds
    /// the depthwise kernel stores the pointwise kernel's flipped input, here also with a partial
    /// block of 32 read by masked loads, with 58 and 42 channels into pixels of 60 and 44 bytes,
    /// and from 5x5 depthwise layers, which do not slide columns).
    func testInt8DepthwisePointwiseEqualsTheTwoConvolutions() {
        var rng = SeededRandom(23)
        func int8s(_ n: Int, _ r: Float) -> [Int8] {
            (0..<n).map { _ in Int8(max(-128, min(127, Int((rng.next() * r).rounded())))) }
        }
        let shapes = [
            (23, 9, 37, 19, 1, 3), (40, 40, 16, 24, 2, 3), (7, 7, 96, 160, 1, 3), (21, 19, 8, 16, 1, 3),
            (13, 11, 40, 24, 2, 3), (9, 12, 144, 24, 1, 3), (11, 10, 40, 24, 1, 5), (14, 13, 58, 58, 1, 3),
            (15, 12, 58, 30, 2, 3), (9, 9, 42, 24, 1, 5),
            // several bands of rows (17 rows of 20 x 48, the last 5; 34 rows of 12 x 40, then 11)
            (56, 20, 48, 24, 1, 3), (90, 24, 40, 24, 2, 3)
        ]
        for (h, w, c, co, s, k) in shapes {
            let pad = k / 2
            let oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1
            let dg = Conv2DGeometry(
                input: (1, h, w, c), output: (oh, ow, c), kernel: (k, k),
                stride: (s, s), pads: (pad, pad, pad, pad), groups: c)
            let pg = Conv2DGeometry(input: (1, oh, ow, c), output: (oh, ow, co), kernel: (1, 1))
            let dk = Kernels.QuantizedDepthwiseConv2DKernel(
                Kernels.QuantizedConvParameters(
                    geometry: dg, weights: int8s(c * k * k, 60), bias: (0..<c).map { _ in Int32(rng.next() * 500) },
                    inputZeroPoint: 4,
                    requantization: Requantization(
                        scales: (0..<c).map { _ in Double(0.01 + 0.005 * rng.next()) }, outputZeroPoint: -9, min: -9,
                        max: 127)))
            let pk = Kernels.QuantizedDenseConv2DKernel(
                Kernels.QuantizedConvParameters(
                    geometry: pg, weights: int8s(c * co, 60), bias: (0..<co).map { _ in Int32(rng.next() * 500) },
                    inputZeroPoint: -9,
                    requantization: Requantization(
                        scales: (0..<co).map { _ in Double(0.004 + 0.002 * rng.next()) }, outputZeroPoint: 2, min: -128,
                        max: 127)))
            let fused = Kernels.QuantizedDepthwisePointwiseKernel(depthwise: dk, pointwise: pk)
            let x = int8s(h * w * c, 128)
            var mid = [Int8](repeating: 0, count: oh * ow * c), want = [Int8](repeating: 0, count: oh * ow * co),
                got = want
            let scratch = UnsafeMutableRawPointer.allocate(
                byteCount: max(fused.scratchBytes, dk.scratchBytes, pk.scratchBytes, 1), alignment: 64)
            defer { scratch.deallocate() }
            dk.run(input: x, output: &mid, scratch: scratch)
            pk.run(input: mid, output: &want, scratch: scratch)
            fused.run(input: x, output: &got, scratch: scratch)
            XCTAssertEqual(got, want, "\(h)x\(w)x\(c) -> \(co) stride \(s) kernel \(k)")
        }
    }

    /// fercc's float scaling (`QuantizedMath.scaleInFloat`) against the exactly rounded product
    /// (accumulators within 2^21 and float32 scales multiply exactly in Double; ties to even), and
    /// TFLite's fixed point against the same: TFLite rounds the product to an integer before its
    /// rounding shift, so it misses values within 2^-(shift+1) of a tie (about 0.3% of these);
    /// float32 misses only within its 2^-24 of one. Plus the clamp: past +-2^16 the result
    /// saturates there (the callers' int8 clamp gives the same bytes), never traps.
    func testFloatScalingRoundsAtLeastAsExactlyAsTFLite() {
        var rng = SeededRandom(41)
        var missFixed = 0, missFloat = 0
        let n = 200_000
        for i in 0..<n {
            let scale = Float(pow(10, -5 + 3.5 * Double(rng.next() * 0.5 + 0.5)))
            let acc = Int32(rng.next() * (i % 2 == 0 ? 2000 : 1_048_576))
            let want = Int32((Double(acc) * Double(scale)).rounded(.toNearestOrEven))
            let q = Kernels.QuantizedMath.quantizeMultiplier(Double(scale))
            if Kernels.QuantizedMath.multiplyByQuantizedMultiplier(acc, q.multiplier, q.shift) != want {
                missFixed += 1
            }
            if Kernels.QuantizedMath.scaleInFloat(acc, scale) != want { missFloat += 1 }
        }
        print("float scaling misses \(missFloat), fixed point \(missFixed) of \(n)")
        XCTAssertGreaterThan(missFixed, n / 1000, "TFLite's double rounding (the comparison's premise)")
        XCTAssertLessThan(missFloat * 20, missFixed, "float misses \(missFloat), fixed point \(missFixed)")
        XCTAssertEqual(Kernels.QuantizedMath.scaleInFloat(5, 0.5), 2, "ties to even")
        XCTAssertEqual(Kernels.QuantizedMath.scaleInFloat(-7, 0.5), -4)
        XCTAssertEqual(Kernels.QuantizedMath.scaleInFloat(Int32.max, 1), 65536)
        XCTAssertEqual(Kernels.QuantizedMath.scaleInFloat(Int32.min, 3), -65536)
    }

    /// Quantize (both rounding rules, NaN, infinities, exact halves), rescale and int8 add/subtract over
    /// counts that are not multiples of the vector width, against their scalar definitions (the
    /// AVX2 builds take vector paths for both).
    func testInt8QuantizeAndAddAgainstScalarDefinitions() {
        var rng = SeededRandom(5)
        var xs = (0..<1043).map { _ in rng.next() * 300 }
        // exact halves after / 0.0625
        for i in stride(from: 0, to: 1000, by: 7) { xs[i] = Float(Int(rng.next() * 400)) * 0.5 * 0.0625 }
        xs[5] = .nan; xs[6] = .infinity; xs[7] = -.infinity; xs[8] = 1e30; xs[9] = -0.0
        // Tiny negatives (fractions whose bits are near Int32.min), halves and their neighbours.
        for (i, v) in [-1e-10, -1e-38, -1e-45, -0.03125, 0.03125, -0.09375, -0.15625, -0.031249998, 0.031250004]
            .enumerated()
        {
            xs[10 + i] = Float(v)
        }
        for halfToEven in [false, true] {
            for (scale, zp) in [(Float(0.0625), Int32(3)), (Float(0.7), Int32(-128)), (Float(2.5), Int32(127))] {
                var y = [Int8](repeating: 0, count: xs.count)
                Kernels.quantizeInt8(xs, &y, count: xs.count, scale: scale, zeroPoint: zp, halfToEven: halfToEven)
                let want = xs.map { x -> Int8 in
                    let v = x / scale
                    let r = v.isNaN ? 0 : v.rounded(halfToEven ? .toNearestOrEven : .toNearestOrAwayFromZero)
                    return Int8(max(min(Double(r) + Double(zp), 127), -128))
                }
                XCTAssertEqual(y, want, "scale \(scale) zero point \(zp) halfToEven \(halfToEven)")
            }
        }
        // Every int8 value, then random ones: 1039 in all (whole 64-element steps, 16-lane ones and
        // a remainder); exact halves of either sign (scale 0.5, and 0.25 with bias -0.5), results
        // past int8 on both sides (scale 3).
        let q =
            (0..<256).map { Int8(truncatingIfNeeded: $0) }
            + (256..<1039).map { _ in Int8(max(-128, min(127, Int(rng.next() * 256) - 128))) }
        for (scale, bias, zp) in [
            (Float(0.5), Float(0.25), Int32(-3)), (Float(1.37), Float(-20.5), Int32(100)),
            (Float(0.01), Float(0), Int32(0)), (Float(0.5), Float(0), Int32(1)), (Float(0.25), Float(-0.5), Int32(-7)),
            (Float(3), Float(1.5), Int32(10))
        ] {
            var y = [Int8](repeating: 0, count: q.count)
            Kernels.rescaleInt8(q, &y, count: q.count, scale: scale, bias: bias, outputZeroPoint: zp)
            XCTAssertEqual(
                y,
                q.map { v in
                    Int8(max(min((Float(v) * scale + bias).rounded(.toNearestOrAwayFromZero) + Float(zp), 127), -128))
                }, "rescale \(scale) \(bias) \(zp)")
        }
        // TFLite's fixed-point add and subtract: every pair of int8 inputs (then 13 more, a remainder
        // after the 16-lane loop), with the larger scale first, second, or both equal (the vector
        // paths rescale an input of multiplier +-2^30 by a shift), against the scalar `apply`.
        let pairs = 256 * 256 + 13
        let a = (0..<pairs).map { Int8(truncatingIfNeeded: $0 & 255) }
        let b = (0..<pairs).map { Int8(truncatingIfNeeded: ($0 >> 8) & 255) }
        for kind in [QuantizedBinaryKernel.Kind.add, .sub] {
            for (s1, z1, s2, z2, so, zo, lo): (Float, Int32, Float, Int32, Float, Int32, Int32) in [
                (0.031, -7, 0.047, 12, 0.06, -3, -100), (0.047, 12, 0.031, -7, 0.06, -3, -128),
                (0.02, 0, 0.02, 5, 0.04, 1, -128), (0.5, -128, 0.001, 3, 0.02, 0, 0)
            ] {
                let k = QuantizedBinaryKernel(
                    kind: kind, scale1: s1, zeroPoint1: z1, scale2: s2, zeroPoint2: z2, outputScale: so,
                    outputZeroPoint: zo, min: lo, max: 127)
                let y = Self.sameShape(k, a, b)
                let want = zip(a, b).map { k.apply($0, $1) }
                XCTAssertEqual((0..<pairs).filter { y[$0] != want[$0] }.count, 0, "\(kind) \(s1) \(s2) \(so)")
            }
        }
    }

    /// `k` over two same-shape vectors (the kernel's vector paths, then its scalar remainder).
    static func sameShape(_ k: QuantizedBinaryKernel, _ a: [Int8], _ b: [Int8]) -> [Int8] {
        var y = [Int8](repeating: 0, count: a.count)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    k.run(ap.baseAddress!, [a.count], bp.baseAddress!, [b.count], yp.baseAddress!, [a.count])
                }
            }
        }
        return y
    }

    /// int8 add and subtract in float arithmetic (graphs fercc quantized itself): every pair of
    /// int8 inputs gives the exact real result rounded half to even, clamped, but where the exact
    /// value lies within 1e-4 of a rounding tie (float32 may land on either side); the vector
    /// path and the scalar `apply` give the same bits.
    func testInt8FloatArithmeticAddIsTheRoundedExactSum() {
        let pairs = 256 * 256 + 13  // every pair, then 13 more: a remainder after the 16-lane loop
        let a = (0..<pairs).map { Int8(truncatingIfNeeded: $0 & 255) }
        let b = (0..<pairs).map { Int8(truncatingIfNeeded: ($0 >> 8) & 255) }
        for (kind, s1, z1, s2, z2, so, zo, lo, hi):
            (QuantizedBinaryKernel.Kind, Float, Int32, Float, Int32, Float, Int32, Int32, Int32) in [
                (.add, 0.031, -7, 0.047, 12, 0.06, -3, -100, 127),
                (.sub, 0.02, 0, 0.02, 0, 0.04, 0, -128, 127),  // many exact halves: ties round to even
                (.add, 0.5, 3, 0.001, -128, 1e-6, 5, 5, 127),  // a tiny output scale: clamped
                (.add, 0.0123, -128, 0.0456, 100, 0.0333, -128, -128, 127)
            ]
        {
            let k = QuantizedBinaryKernel(
                kind: kind, scale1: s1, zeroPoint1: z1, scale2: s2, zeroPoint2: z2, outputScale: so,
                outputZeroPoint: zo, min: lo, max: hi, floatArithmetic: true)
            let y = Self.sameShape(k, a, b)
            let scalar = zip(a, b).map { k.apply($0, $1) }
            XCTAssertEqual(
                (0..<pairs).filter { y[$0] != scalar[$0] }.count, 0,
                "\(kind) \(s1) \(s2) \(so): vector and scalar differ")
            var off = 0, nearTies = 0
            for i in 0..<pairs {
                let sign: Double = kind == .sub ? -1 : 1
                let exact =
                    Double(Int32(a[i]) - z1) * Double(s1) / Double(so) + sign * Double(Int32(b[i]) - z2)
                    * Double(s2) / Double(so) + Double(zo)
                let want = Int8(min(max(exact.rounded(.toNearestOrEven), Double(lo)), Double(hi)))
                if y[i] == want { continue }
                if abs(abs(exact - exact.rounded(.down)) - 0.5) < 1e-4 && abs(Int(y[i]) - Int(want)) == 1 {
                    nearTies += 1
                } else {
                    off += 1
                }
            }
            XCTAssertEqual(off, 0, "\(kind) \(s1) \(s2) \(so): results off the rounded exact sum")
            XCTAssertLessThan(nearTies, pairs / 100, "\(kind) \(s1) \(s2) \(so)")
        }
    }

    /// int8 max pooling (16-channel vectors, then a scalar tail) against the definition: the
    /// largest tap inside the input, clamped; 37 channels, padding, stride 2.
    func testInt8MaxPoolAgainstDefinition() {
        var rng = SeededRandom(31)
        // 37 channels (AVX2: blocks of 32, the last overlapping), 16 (one block of 16), 20 (16 and an
        // overlapping 16) on rows of 16 bytes (one overlapping 16-byte step down the rows), 64; windows
        // cut by padding at every side, 2 x 2 windows with none. 16 and 32 channels in 3 x 3 windows
        // at stride 2 take AVX-512's steps of four and two whole windows where a row has them.
        for (c, h, w, k, s, pads) in [
            (37, 9, 8, 3, 2, (1, 1, 1, 0)), (16, 23, 21, 3, 2, (1, 1, 1, 1)), (20, 5, 1, 3, 1, (1, 1, 1, 1)),
            (64, 8, 6, 2, 2, (0, 0, 0, 0)), (16, 7, 1, 3, 2, (2, 2, 1, 1)), (32, 6, 13, 3, 2, (1, 1, 1, 1))
        ] {
            let oh = (h + pads.0 + pads.2 - k) / s + 1, ow = (w + pads.1 + pads.3 - k) / s + 1
            let g = Conv2DGeometry(
                input: (2, h, w, c), output: (oh, ow, c), kernel: (k, k),
                stride: (s, s), pads: pads)
            let x = (0..<(2 * h * w * c)).map { _ in Int8(max(-128, min(127, Int((rng.next() * 128).rounded())))) }
            var got = [Int8](repeating: 0, count: 2 * oh * ow * c), portable = got
            x.withUnsafeBufferPointer { xp in
                got.withUnsafeMutableBufferPointer { yp in
                    Kernels.quantizedPool(g, average: false, min: -20, max: 100, xp.baseAddress!, yp.baseAddress!)
                }
            }
            x.withUnsafeBufferPointer { xp in
                portable.withUnsafeMutableBufferPointer { yp in
                    Kernels.quantizedPoolPortable(
                        g, average: false, min: -20, max: 100, xp.baseAddress!, yp.baseAddress!)
                }
            }
            XCTAssertEqual(portable, got, "portable path, \(c) channels")
            var want = got
            for n in 0..<2 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        for ch in 0..<c {
                            var m = -128
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let y = oy * s - pads.0 + ky, xx = ox * s - pads.1 + kx
                                    guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                                    m = max(m, Int(x[((n * h + y) * w + xx) * c + ch]))
                                }
                            }
                            want[((n * oh + oy) * ow + ox) * c + ch] = Int8(min(max(m, -20), 100))
                        }
                    }
                }
            }
            XCTAssertEqual(got, want, "\(c) channels, \(h) x \(w), kernel \(k), stride \(s)")
        }
    }

    /// A pooling window far larger than its input (a 2^30 kernel whose padding makes it valid,
    /// found by FuzzMutatedModels as a hang) costs no more than the input: the taps are counted,
    /// not looped over. Average including padding divides by the padded taps.
    func testHugePoolingWindowIsCountedNotLooped() {
        let k = 1 << 30
        let g = Conv2DGeometry(
            input: (1, 4, 4, 2), output: (1, 1, 2), kernel: (k, k), stride: (1, 1),
            pads: (k - 4, k - 4, 0, 0))
        let x = (0..<32).map { Float($0) }
        var y = [Float](repeating: 0, count: 2 + 16)
        let start = Date()
        Pool2DKernel(geometry: g, kind: .max).run(input: x, output: &y)
        XCTAssertEqual(Array(y[0..<2]), [30, 31])
        Pool2DKernel(geometry: g, kind: .average(countIncludePad: false)).run(input: x, output: &y)
        XCTAssertEqual(Array(y[0..<2]), [15, 16])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    /// fp32 max and average pooling (16-channel vectors, an overlapping last vector, 8-channel
    /// vectors, a scalar path under 8 channels; max pooling's unrolled 3x3 and 2x2 windows, its
    /// edge columns and any other window) against the definition, with padding, stride and
    /// dilation. Max pooling folds each tap as `v > m ? v : m` from -infinity: NaN inputs are
    /// skipped and +0 stays before -0, bit for bit.
    func testFloatPoolingAgainstDefinition() {
        var rng = SeededRandom(41)
        // (kernel, stride, dilation, pads top/left/bottom/right)
        let windows: [(Int, Int, Int, (Int, Int, Int, Int))] = [
            (3, 2, 1, (1, 1, 1, 0)), (2, 2, 1, (0, 0, 0, 0)), (3, 1, 2, (2, 1, 0, 2)), (4, 3, 1, (1, 2, 2, 1))
        ]
        for (k, s, d, p) in windows {
            for c in [24, 37, 16, 13, 8, 5] {
                let h = 9, w = 8
                let oh = (h + p.0 + p.2 - d * (k - 1) - 1) / s + 1, ow = (w + p.1 + p.3 - d * (k - 1) - 1) / s + 1
                let g = Conv2DGeometry(
                    input: (2, h, w, c), output: (oh, ow, c), kernel: (k, k),
                    stride: (s, s), dilation: (d, d), pads: p)
                var x = rng.floats(2 * h * w * c)
                for i in stride(from: 3, to: x.count, by: 29) { x[i] = .nan }
                for i in stride(from: 5, to: x.count, by: 23) { x[i] = i % 2 == 0 ? 0 : -0.0 }
                for kind in [Pool2DKernel.Kind.max, .average(countIncludePad: false), .average(countIncludePad: true)] {
                    var got = [Float](repeating: .nan, count: 2 * oh * ow * c + 16)  // guard lanes after the output
                    Pool2DKernel(geometry: g, kind: kind).run(input: x, output: &got)
                    var want = got
                    for i in (2 * oh * ow * c)..<want.count { want[i] = .nan }
                    for n in 0..<2 {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                for ch in 0..<c {
                                    var m = -Float.infinity, sum: Float = 0, inside = 0, padded = 0
                                    for ky in 0..<k {
                                        for kx in 0..<k {
                                            let y = oy * s - p.0 + ky * d, xx = ox * s - p.1 + kx * d
                                            if y < h + p.2, xx < w + p.3 { padded += 1 }
                                            guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                                            let v = x[((n * h + y) * w + xx) * c + ch]
                                            m = v > m ? v : m
                                            sum += v
                                            inside += 1
                                        }
                                    }
                                    let o = ((n * oh + oy) * ow + ox) * c + ch
                                    switch kind {
                                    case .max: want[o] = m
                                    case .average(let inc): want[o] = sum * (1 / Float(inc ? padded : inside))
                                    }
                                }
                            }
                        }
                    }
                    XCTAssertEqual(
                        got.prefix(2 * oh * ow * c).map(\.bitPattern), want.prefix(2 * oh * ow * c).map(\.bitPattern),
                        "kernel \(k) stride \(s) dilation \(d) pads \(p) c \(c) \(kind)")
                    XCTAssertTrue(got.suffix(16).allSatisfy(\.isNaN), "written past the output")
                }
            }
        }
    }

    func testMatmulAgainstNaive() {
        var rng = SeededRandom(2)
        for (m, k, n) in [(1, 1280, 7), (5, 3, 33), (4, 16, 16), (9, 31, 17)] {
            let a = rng.floats(m * k), b = rng.floats(k * n)
            var y = [Float](repeating: .nan, count: m * n)
            Kernels.matmul(a, b, &y, m: m, k: k, n: n)
            var ref = [Float](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    ref[i * n + j] = Float((0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) })
                }
            }
            XCTAssertLessThanOrEqual(relativeError(y, ref), 1e-5, "\(m)x\(k)x\(n)")
        }
    }

    func testExpIsAccurate() {
        var worst = 0.0
        var x = -700.0
        while x < 700 {
            let e = KernelMath.exp(x)
            // Compare with e^x built from exact powers of e^(1/8) would need a reference; use identities instead:
            // exp(x) * exp(-x) == 1 and exp(a + b) == exp(a) * exp(b).
            worst = max(worst, abs(e * KernelMath.exp(-x) - 1))
            x += 0.37
        }
        XCTAssertLessThan(worst, 1e-13)
        XCTAssertEqual(KernelMath.exp(1), 2.718281828459045, accuracy: 1e-15)
        XCTAssertEqual(KernelMath.exp(-1), 0.36787944117144233, accuracy: 1e-16)
        XCTAssertEqual(KernelMath.exp(10), 22026.465794806718, accuracy: 1e-10)
        XCTAssertEqual(KernelMath.exp(0), 1)
        XCTAssertEqual(KernelMath.exp(800), .infinity)
        XCTAssertEqual(KernelMath.exp(-800), 0)
        XCTAssertEqual(KernelMath.sigmoid(0), 0.5)
        XCTAssertEqual(KernelMath.sigmoid(-100), 0, accuracy: 1e-30)
        XCTAssertEqual(KernelMath.tanh(0.5), 0.46211715726000974, accuracy: 1e-7)
        XCTAssertEqual(KernelMath.tanh(-30), -1)
    }

    /// Reductions (mean, sum, max with a NaN) over every kind of axis set, against sums taken in
    /// the definition's order (the same bits).
    func testReduceAgainstDefinition() {
        let shape = [2, 3, 4, 5]
        let count = shape.reduce(1, *)
        var x = (0..<count).map { Float(($0 * 37) % 23) * 0.37 - 4 }
        for axes in [[1, 2], [3], [0, 2], [], [0, 1, 2, 3], [1], [0, 3]] {
            for op in [ReduceOperation.mean, .sum, .max] {
                if op == .max { x[17] = .nan }
                let kept = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                let outCount = kept.reduce(1, *)
                var got = [Float](repeating: 7, count: outCount)
                Kernels.reduce(x, shape, axes: axes, op, &got)
                var want = [Float](repeating: op == .max ? -.infinity : 0, count: outCount)
                var hits = [Int](repeating: 0, count: outCount)
                for i in 0..<count {
                    var rest = i, o = 0, scale = 1
                    var idx = [Int](repeating: 0, count: 4)
                    for a in stride(from: 3, through: 0, by: -1) { idx[a] = rest % shape[a]; rest /= shape[a] }
                    for a in stride(from: 3, through: 0, by: -1) {
                        o += (axes.contains(a) ? 0 : idx[a]) * scale; scale *= kept[a]
                    }
                    if op == .max { if x[i] > want[o] || x[i].isNaN { want[o] = x[i] } } else { want[o] += x[i] }
                    hits[o] += 1
                }
                if op == .mean { for o in 0..<outCount { want[o] /= Float(hits[o]) } }
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "axes \(axes) \(op)")
            }
        }
    }

    func testStridedCopyTransposeAndPad() {
        let x: [Float] = (0..<24).map(Float.init)  // [2, 3, 4]
        var y = [Float](repeating: 0, count: 24)
        Kernels.transpose(x, [2, 3, 4], perm: [2, 0, 1], &y)
        XCTAssertEqual(Array(y.prefix(6)), [0, 4, 8, 12, 16, 20])
        // A channel shuffle of two groups on int8 (vector path from 16 channels per group), against
        // the definition: halves of 16, 58 (a partial last step) and 7 channels.
        for half in [16, 58, 7] {
            let pixels = 5
            let q = (0..<(pixels * 2 * half)).map { Int8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            var shuffled = [Int8](repeating: 0x5A, count: q.count + 32)  // guard bytes after the output
            Kernels.transpose(q, [pixels, 2, half, 1], perm: [0, 2, 1, 3], &shuffled)
            var want = q + [Int8](repeating: 0x5A, count: 32)
            for px in 0..<pixels {
                for j in 0..<half {
                    for g in 0..<2 { want[px * 2 * half + 2 * j + g] = q[px * 2 * half + g * half + j] }
                }
            }
            XCTAssertEqual(shuffled, want, "half \(half)")
        }
        // And on floats (four channels of each half per step from 4 per group).
        for half in [4, 58, 3] {
            let pixels = 3
            let f = (0..<(pixels * 2 * half)).map { Float($0) * 0.5 - 7 }
            var shuffled = [Float](repeating: -1, count: f.count + 8)  // guard floats after the output
            Kernels.transpose(f, [pixels, 2, half, 1], perm: [0, 2, 1, 3], &shuffled)
            var want = f + [Float](repeating: -1, count: 8)
            for px in 0..<pixels {
                for j in 0..<half {
                    for g in 0..<2 { want[px * 2 * half + 2 * j + g] = f[px * 2 * half + g * half + j] }
                }
            }
            XCTAssertEqual(shuffled, want, "float half \(half)")
        }
        // NCHW to NHWC with few channels (per-plane gather for 3, a loop otherwise), against the definition.
        for c in [3, 1, 4, 5] {
            let (n, h, w) = (2, 3, 5)
            let v = (0..<(n * c * h * w)).map { Float($0) * 0.25 - 3 }
            var t = [Float](repeating: .nan, count: v.count)
            Kernels.transpose(v, [n, c, h, w], perm: [0, 2, 3, 1], &t)
            var want = v
            for b in 0..<n {
                for y in 0..<h {
                    for x in 0..<w {
                        for k in 0..<c { want[((b * h + y) * w + x) * c + k] = v[((b * c + k) * h + y) * w + x] }
                    }
                }
            }
            XCTAssertEqual(t, want, "NCHW to NHWC, \(c) channels")
        }
        var p = [Float](repeating: 0, count: 2 * 5)
        Kernels.pad([1, 2, 3, 4], [2, 2], pads: [0, 1, 0, 2], value: 9, &p)
        XCTAssertEqual(p, [9, 1, 2, 9, 9, 9, 3, 4, 9, 9])
        // Channel pads of int8 pixels with runs of 1 to 300 bytes (two words from 4 to 64 bytes, the
        // second overlapping; memmove past that), against the definition, with guard bytes after the output.
        for c in Array(1...160) + [191, 255, 256, 257, 300] {
            let pixels = 3
            let q = (0..<(pixels * c)).map { Int8(truncatingIfNeeded: $0 &* 29 &+ 3) }
            var padded = [Int8](repeating: 0x5A, count: pixels * (c + 5) + 16)
            Kernels.pad(q, [pixels, c], pads: [0, 2, 0, 3], value: -7, &padded)
            var want = [Int8](repeating: 0x5A, count: padded.count)
            for px in 0..<pixels {
                for k in 0..<(c + 5) { want[px * (c + 5) + k] = k < 2 || k >= c + 2 ? -7 : q[px * c + k - 2] }
            }
            XCTAssertEqual(padded, want, "\(c) channels")
        }
    }
}
