// The fp32 convolution's AArch64 tile: inputs read four channels at a time and multiplied by lane.
// fercc-kernel requires: Float/Conv2D.swift

#if arch(arm64)
extension Kernels {
    /// `blockTiles` on AArch64: seven output pixels x 8 channels (half of its 16-channel block) per
    /// step, each half in turn, then `pairTiles` for the rest of `pixels`. Each
    /// pixel's next four input channels are one 128-bit load and each weight vector is multiplied
    /// by one of its lanes (`fmla v.4s, w.4s, x.s[k]`, which LLVM forms from a splat of a constant
    /// lane): per four input channels 7 input loads, 4 weight load pairs and 56 multiply-adds, where
    /// the broadcast form needed a load per pixel and channel (36 instructions per 24 multiply-adds).
    /// Eight channels, not 16: LLVM loads all of a step's weights first, and 16 channels' (16
    /// registers) with 20 accumulators spilled; 7 x 8 leaves 14 accumulators, 8 weight and 7 input
    /// registers. Seven pixels, not 6 or 8: MobileNetV2's rows (7 to 112 wide, expanded one at a
    /// time by the fused kernel) have no remainder (MobileNetV2 fp32: 6 pixels 132.9 M instructions,
    /// 7 129.0 M, 8 130.4 M). Each pixel is summed in `blockTiles`' order, one fused multiply-add
    /// per tap, so its bits do not change.
    @inline(__always)
    static func laneTiles<C: VectorClamp>(
        _ k: Conv2DKernel, pixels: Range<Int>, valid: Int, weights w: UnsafePointer<Float>,
        bias b: UnsafePointer<Float>,
        image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, _ clamp: C
    ) {
        typealias V = Lanes8
        let g = k.geometry, outC = g.outC, kernelH = g.kernelH, columns = k.columns, sx = g.strideW &* g.inC
        let rowStep = k.rowStep, columnStep = k.columnStep
        let quads = k.rowTaps &>> 2, rest = k.rowTaps & 3
        var p = pixels.lowerBound
        while p &+ 7 <= pixels.upperBound {
            // The windows of a tile within one output row are `sx` apart: one (unsigned) division
            // per tile instead of one per pixel, with its checks (they were a third of the setup).
            let c = Conv2DKernel.PixelCursor(p, outW: g.outW)
            let x0 = k.window(image, oh: c.oh, ow: c.ow)
            let x1: UnsafePointer<Float>, x2: UnsafePointer<Float>, x3: UnsafePointer<Float>
            let x4: UnsafePointer<Float>, x5: UnsafePointer<Float>, x6: UnsafePointer<Float>
            if c.ow &+ 6 < g.outW {
                x1 = x0 + sx
                x2 = x1 + sx
                x3 = x2 + sx
                x4 = x3 + sx
                x5 = x4 + sx
                x6 = x5 + sx
            } else {
                x1 = k.window(image, p &+ 1)
                x2 = k.window(image, p &+ 2)
                x3 = k.window(image, p &+ 3)
                x4 = k.window(image, p &+ 4)
                x5 = k.window(image, p &+ 5)
                x6 = k.window(image, p &+ 6)
            }
            var half = 0
            while half < valid {
                let count = min(8, valid &- half)
                let bias = V.load(b + half, count: count).v
                var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias
                var wp = w + half
                for kh in 0..<kernelH {
                    for kw in 0..<columns {
                        let off = kh &* rowStep &+ kw &* columnStep
                        var y0 = x0 + off, y1 = x1 + off, y2 = x2 + off, y3 = x3 + off, y4 = x4 + off, y5 = x5 + off
                        var y6 = x6 + off
                        for _ in 0..<quads {
                            let q0 = UnsafeRawPointer(y0).loadUnaligned(as: SIMD4<Float>.self)
                            let q1 = UnsafeRawPointer(y1).loadUnaligned(as: SIMD4<Float>.self)
                            let q2 = UnsafeRawPointer(y2).loadUnaligned(as: SIMD4<Float>.self)
                            let q3 = UnsafeRawPointer(y3).loadUnaligned(as: SIMD4<Float>.self)
                            let q4 = UnsafeRawPointer(y4).loadUnaligned(as: SIMD4<Float>.self)
                            let q5 = UnsafeRawPointer(y5).loadUnaligned(as: SIMD4<Float>.self)
                            let q6 = UnsafeRawPointer(y6).loadUnaligned(as: SIMD4<Float>.self)
                            /// Input channel `l` of the four: a constant lane, so each splat folds into `fmla`.
                            @inline(__always) func tap(_ l: Int) {
                                let wv = V.load(wp + l &* 16).v
                                a0 = a0.addingProduct(wv, SIMD8(repeating: q0[l]))
                                a1 = a1.addingProduct(wv, SIMD8(repeating: q1[l]))
                                a2 = a2.addingProduct(wv, SIMD8(repeating: q2[l]))
                                a3 = a3.addingProduct(wv, SIMD8(repeating: q3[l]))
                                a4 = a4.addingProduct(wv, SIMD8(repeating: q4[l]))
                                a5 = a5.addingProduct(wv, SIMD8(repeating: q5[l]))
                                a6 = a6.addingProduct(wv, SIMD8(repeating: q6[l]))
                            }
                            tap(0)
                            tap(1)
                            tap(2)
                            tap(3)
                            wp += 64
                            y0 += 4
                            y1 += 4
                            y2 += 4
                            y3 += 4
                            y4 += 4
                            y5 += 4
                            y6 += 4
                        }
                        for ci in 0..<rest {
                            let wv = V.load(wp).v
                            wp += 16
                            a0 = a0.addingProduct(wv, SIMD8(repeating: y0[ci]))
                            a1 = a1.addingProduct(wv, SIMD8(repeating: y1[ci]))
                            a2 = a2.addingProduct(wv, SIMD8(repeating: y2[ci]))
                            a3 = a3.addingProduct(wv, SIMD8(repeating: y3[ci]))
                            a4 = a4.addingProduct(wv, SIMD8(repeating: y4[ci]))
                            a5 = a5.addingProduct(wv, SIMD8(repeating: y5[ci]))
                            a6 = a6.addingProduct(wv, SIMD8(repeating: y6[ci]))
                        }
                    }
                }
                let o = out + (p &* outC &+ half)
                let r0 = clamp.apply(V(a0)), r1 = clamp.apply(V(a1)), r2 = clamp.apply(V(a2))
                let r3 = clamp.apply(V(a3)), r4 = clamp.apply(V(a4)), r5 = clamp.apply(V(a5))
                let r6 = clamp.apply(V(a6))
                if count == 8 {
                    r0.store(o)
                    r1.store(o + outC)
                    r2.store(o + 2 &* outC)
                    r3.store(o + 3 &* outC)
                    r4.store(o + 4 &* outC)
                    r5.store(o + 5 &* outC)
                    r6.store(o + 6 &* outC)
                } else {
                    // A layer's last channels element by element: a call here (`store(_:count:)`'s)
                    // made every tile save its accumulators around it.
                    for i in 0..<count {
                        o[i] = r0.v[i]
                        o[outC &+ i] = r1.v[i]
                        o[2 &* outC &+ i] = r2.v[i]
                        o[3 &* outC &+ i] = r3.v[i]
                        o[4 &* outC &+ i] = r4.v[i]
                        o[5 &* outC &+ i] = r5.v[i]
                        o[6 &* outC &+ i] = r6.v[i]
                    }
                }
                half &+= 8
            }
            p &+= 7
        }
        pairTiles(
            k, pixels: p..<pixels.upperBound, valid: valid, weights: w, bias: b, image: image, out: out, clamp)
    }

    /// The last pixels of `laneTiles`' range (under 7: a row's end in the fused kernels' bands), two
    /// at a time over the whole 16-channel block (8 accumulators and 16 weight registers fit), an
    /// odd last pixel computed twice; about the cost per pixel of the seven-pixel tile.
    @inline(__always)
    static func pairTiles<C: VectorClamp>(
        _ k: Conv2DKernel, pixels: Range<Int>, valid: Int, weights w: UnsafePointer<Float>,
        bias b: UnsafePointer<Float>,
        image: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, _ clamp: C
    ) {
        typealias V = Lanes16
        let outC = k.geometry.outC, kernelH = k.geometry.kernelH, columns = k.columns
        let rowStep = k.rowStep, columnStep = k.columnStep
        let quads = k.rowTaps &>> 2, rest = k.rowTaps & 3
        let bias = V.load(b, count: valid).v
        var p = pixels.lowerBound
        while p < pixels.upperBound {
            let two = p &+ 1 < pixels.upperBound
            let x0 = k.window(image, p), x1 = k.window(image, two ? p &+ 1 : p)
            var a0 = bias, a1 = bias
            var wp = w
            for kh in 0..<kernelH {
                for kw in 0..<columns {
                    let off = kh &* rowStep &+ kw &* columnStep
                    var y0 = x0 + off, y1 = x1 + off
                    for _ in 0..<quads {
                        let q0 = UnsafeRawPointer(y0).loadUnaligned(as: SIMD4<Float>.self)
                        let q1 = UnsafeRawPointer(y1).loadUnaligned(as: SIMD4<Float>.self)
                        @inline(__always) func tap(_ l: Int) {
                            let wv = V.load(wp + l &* 16).v
                            a0 = a0.addingProduct(wv, SIMD16(repeating: q0[l]))
                            a1 = a1.addingProduct(wv, SIMD16(repeating: q1[l]))
                        }
                        tap(0)
                        tap(1)
                        tap(2)
                        tap(3)
                        wp += 64
                        y0 += 4
                        y1 += 4
                    }
                    for ci in 0..<rest {
                        let wv = V.load(wp).v
                        wp += 16
                        a0 = a0.addingProduct(wv, SIMD16(repeating: y0[ci]))
                        a1 = a1.addingProduct(wv, SIMD16(repeating: y1[ci]))
                    }
                }
            }
            let o = out + p &* outC
            let r0 = clamp.apply(V(a0)), r1 = clamp.apply(V(a1))
            if valid == 16 {
                r0.store(o)
                if two { r1.store(o + outC) }
            } else {
                for i in 0..<valid { o[i] = r0.v[i] }
                if two { for i in 0..<valid { o[outC &+ i] = r1.v[i] } }
            }
            p &+= two ? 2 : 1
        }
    }
}
#endif
