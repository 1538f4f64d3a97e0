// NEON path of the int8 depthwise convolution on AArch64, through the compiler's own clang
// intrinsics module (no package); NEON is part of AArch64's base instruction set, so no flags.
// Same bits as the portable kernel.
// fercc-kernel requires: Int8/ARM64/Requantize+NEON.swift Int8/QuantizedPadding.swift Int8/QuantizedDepthwiseConv.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 depthwise convolution with widening multiply-adds: per output pixel and block of 16
    /// channels, each tap's 16 input bytes are widened to int16 (`sxtl`) and multiplied into 4
    /// int32 accumulators with the tap's int16 weights (`smlal`, `smlal2`): 16 products in 12
    /// instructions, against about 30 for the portable kernel's int32 lanes. The portable
    /// kernel's packed weights ([tap][channels padded to 16]) and padded input copy, NEON
    /// requantization.
    struct QuantizedDepthwiseConvNEON {
        let portable: QuantizedDepthwiseConv
        let table: NEONRequantTable

        init(_ p: QuantizedConvParameters) {
            portable = QuantizedDepthwiseConv(p)
            table = NEONRequantTable(p, bias: p.folded)
        }

        var scratchBytes: Int { portable.scratchBytes }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let p = portable.p, g = p.geometry, cs = portable.channelStride
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: cs, copy: portable.needsPaddedCopy, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, requant = p.requant
            let weightStep = cs * 2  // bytes from one tap's weights to the next's
            portable.packed.withUnsafeBufferPointer { pb in
                table.values.withUnsafeBufferPointer { tb in
                    let wp = UnsafeRawPointer(pb.baseAddress!), t = tb.baseAddress!
                    withTapOffsets(g, paddedW: pw, channelStride: cs) { offsets in
                        for n in 0..<g.batch {
                            for oh in 0..<g.outH {
                                for ow in 0..<g.outW {
                                    let out = output + ((n * g.outH + oh) * g.outW + ow) * g.outC
                                    let base = x + ((n * ph + oh * g.strideH) * pw + ow * g.strideW) * cs
                                    for b in 0..<p.blocks {
                                        var a0 = SIMD4<Int32>(), a1 = SIMD4<Int32>()
                                        var a2 = SIMD4<Int32>(), a3 = SIMD4<Int32>()
                                        let xb = UnsafeRawPointer(base + b * 16)
                                        var w = wp + b * 32
                                        for tap in 0..<taps {
                                            let xv = xb.loadUnaligned(
                                                fromByteOffset: offsets[tap], as: SIMD16<Int8>.self)
                                            defer { w += weightStep }
                                            let wl = w.loadUnaligned(as: SIMD8<Int16>.self)
                                            let wh = w.loadUnaligned(fromByteOffset: 16, as: SIMD8<Int16>.self)
                                            let xl = vmovl_s8(vget_low_s8(xv)), xh = vmovl_high_s8(xv)
                                            a0 = vmlal_s16(a0, vget_low_s16(xl), vget_low_s16(wl))
                                            a1 = vmlal_high_s16(a1, xl, wl)
                                            a2 = vmlal_s16(a2, vget_low_s16(xh), vget_low_s16(wh))
                                            a3 = vmlal_high_s16(a3, xh, wh)
                                        }
                                        requantizeStoreNEON(a0, a1, a2, a3, block: b, t, requant, channels: g.outC, out)
                                    }
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
