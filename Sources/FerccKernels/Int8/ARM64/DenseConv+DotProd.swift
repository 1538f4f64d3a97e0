// AArch64 dot-product path of the int8 regular convolution (ARMv8.2-A `sdot`: Apple A13,
// Cortex-A76, Snapdragon 855 and later), through the compiler's own clang intrinsics module (no
// package), compiled where the build defines FERCC_DOTPROD (with -march=armv8.2-a+dotprod).
// Same bits as the portable kernels.
// fercc-kernel requires: Int8/ARM64/Requantize+NEON.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift

#if arch(arm64) && FERCC_DOTPROD
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 regular convolution with `sdot` (4 int8 products added into each int32 lane): steps of
    /// 4 output pixels x 16 output channels (16 accumulators of 4 lanes, 4 weight and 1 input
    /// register: 21 of the 32), each over 4 input channels of a tap, the input's 4 bytes
    /// replicated to every lane (`ld1r`). Weights packed as [block of 16 outputs][tap][group of 4
    /// inputs][16 outputs][4 inputs], zeros past the channels. Inputs read as they are (the
    /// zero point folded into the bias), or through a copy padded with the zero point when the
    /// layer pads or its channels are not a multiple of 4 (rounded up to 4: the extra bytes meet
    /// zero weights).
    struct QuantizedDenseConvDotProd {
        let p: QuantizedConvParameters
        let packed: [Int8]
        let table: NEONRequantTable
        /// Input channels rounded up to 4: bytes per pixel of what the loop reads.
        let stride: Int
        var copies: Bool { p.geometry.hasPadding || stride != p.geometry.inC }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW, c = g.inC
            stride = (c + 3) / 4 * 4
            let groups = stride / 4
            var packed = [Int8](repeating: 0, count: p.blocks * taps * groups * 64)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for ci in 0..<c {
                        packed[((oc / 16 * taps + t) * groups + ci / 4) * 64 + oc % 16 * 4 + ci % 4] =
                            p.weights[(oc * taps + t) * c + ci]
                    }
                }
            }
            self.packed = packed
            table = NEONRequantTable(p, bias: p.folded)
        }

        var scratchBytes: Int {
            let g = p.geometry
            return copies ? g.batch * g.paddedH * g.paddedW * stride : 0
        }

        @inline(__always)
        static func broadcast(_ p: UnsafePointer<Int8>) -> SIMD16<Int8> {
            unsafeBitCast(
                SIMD4<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self)), to: SIMD16<Int8>.self)
        }

        /// The 16 output channels of one pixel, as 4 accumulators of 4.
        struct Pixel {
            var a0 = SIMD4<Int32>(), a1 = SIMD4<Int32>(), a2 = SIMD4<Int32>(), a3 = SIMD4<Int32>()
            @inline(__always)
            mutating func dot(_ w: UnsafeRawPointer, _ x: SIMD16<Int8>) {
                a0 = vdotq_s32(a0, w.loadUnaligned(as: SIMD16<Int8>.self), x)
                a1 = vdotq_s32(a1, w.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self), x)
                a2 = vdotq_s32(a2, w.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self), x)
                a3 = vdotq_s32(a3, w.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self), x)
            }
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: stride, copy: copies, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, groups = stride / 4, blocks = p.blocks
            let step = g.strideW * stride
            let requant = p.requant, outC = g.outC
            packed.withUnsafeBufferPointer { pb in
                table.values.withUnsafeBufferPointer { tb in
                    let wp = UnsafeRawPointer(pb.baseAddress!), t = tb.baseAddress!
                    withTapOffsets(g, paddedW: pw, channelStride: stride) { offsets in
                        for n in 0..<g.batch {
                            for oh in 0..<g.outH {
                                let rowBase = x + (n * ph + oh * g.strideH) * pw * stride
                                let outRow = output + (n * g.outH + oh) * g.outW * outC
                                var ow = 0
                                while ow + 4 <= g.outW {
                                    let first = rowBase + ow * step
                                    for b in 0..<blocks {
                                        var p0 = Pixel(), p1 = Pixel(), p2 = Pixel(), p3 = Pixel()
                                        var w = wp + b * taps * groups * 64
                                        for tap in 0..<taps {
                                            var px = first + offsets[tap]
                                            for _ in 0..<groups {
                                                p0.dot(w, Self.broadcast(px))
                                                p1.dot(w, Self.broadcast(px + step))
                                                p2.dot(w, Self.broadcast(px + 2 * step))
                                                p3.dot(w, Self.broadcast(px + 3 * step))
                                                px += 4
                                                w += 64
                                            }
                                        }
                                        let out = outRow + ow * outC
                                        requantizeStoreNEON(
                                            p0.a0, p0.a1, p0.a2, p0.a3, block: b, t, requant, channels: outC, out)
                                        requantizeStoreNEON(
                                            p1.a0, p1.a1, p1.a2, p1.a3, block: b, t, requant, channels: outC, out + outC
                                        )
                                        requantizeStoreNEON(
                                            p2.a0, p2.a1, p2.a2, p2.a3, block: b, t, requant, channels: outC,
                                            out + 2 * outC)
                                        requantizeStoreNEON(
                                            p3.a0, p3.a1, p3.a2, p3.a3, block: b, t, requant, channels: outC,
                                            out + 3 * outC)
                                    }
                                    ow += 4
                                }
                                while ow < g.outW {
                                    let first = rowBase + ow * step
                                    for b in 0..<blocks {
                                        var p0 = Pixel()
                                        var w = wp + b * taps * groups * 64
                                        for tap in 0..<taps {
                                            var px = first + offsets[tap]
                                            for _ in 0..<groups {
                                                p0.dot(w, Self.broadcast(px))
                                                px += 4
                                                w += 64
                                            }
                                        }
                                        requantizeStoreNEON(
                                            p0.a0, p0.a1, p0.a2, p0.a3, block: b, t, requant, channels: outC,
                                            outRow + ow * outC)
                                    }
                                    ow += 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
#endif
