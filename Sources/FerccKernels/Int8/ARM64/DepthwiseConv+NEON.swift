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
    /// instructions, against about 30 for the portable kernel's int32 lanes. 3x3 layers take
    /// their taps in pairs instead: int8 x int8 products of two taps summed in int16 lanes
    /// (`smull`, `smlal`), then widened into the accumulators (`saddw`): 32 products in 10
    /// instructions, the 9 taps' weights in 9 registers. The portable kernel's packed weights
    /// ([tap][channels padded to 16]) and padded input copy, NEON requantization.
    struct QuantizedDepthwiseConvNEON {
        let portable: QuantizedDepthwiseConv
        let table: NEONRequantTable
        /// 3x3 weights as bytes, [tap][channels padded to 16], when every pair of taps
        /// `run3x3Pairs` sums in int16 lanes fits there: two products reach 2 x 128 x 128 = 2^15
        /// only when both weights are -128 (TFLite's int8 weights are -127...127), else nil.
        let pairs: [Int8]?

        init(_ p: QuantizedConvParameters) {
            portable = QuantizedDepthwiseConv(p)
            table = NEONRequantTable(p, bias: p.folded)
            let g = p.geometry
            var fits = g.kernelH * g.kernelW == 9
            for c in 0..<g.outC where fits {
                for pair in 0..<4 where p.weights[c * 9 + 2 * pair] == -128 && p.weights[c * 9 + 2 * pair + 1] == -128 {
                    fits = false
                }
            }
            pairs = fits ? portable.packed.map { Int8(truncatingIfNeeded: $0) } : nil
        }

        var scratchBytes: Int { portable.scratchBytes }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let p = portable.p, g = p.geometry, cs = portable.channelStride
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: cs, copy: portable.needsPaddedCopy, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, requant = p.requant
            let weightStep = cs &* 2  // bytes from one tap's weights to the next's
            portable.packed.withUnsafeBufferPointer { pb in
                table.values.withUnsafeBufferPointer { tb in
                    let wp = UnsafeRawPointer(pb.baseAddress!), t = tb.baseAddress!
                    withTapOffsets(g, paddedW: pw, channelStride: cs) { offsets in
                        // Blocks outermost: a block's weights and constants are loaded once.
                        for b in 0..<p.blocks {
                            let valid = g.outC &- b &* 16
                            if let pairs {
                                pairs.withUnsafeBufferPointer { qb in
                                    NEONRequant.withBlock(table, t, block: b, outC: g.outC, requant) { rq in
                                        run3x3Pairs(
                                            x, ph: ph, pw: pw, block: b,
                                            weights: UnsafeRawPointer(qb.baseAddress! + b * 16),
                                            offsets, rq, valid: valid, output)
                                    }
                                }
                                continue
                            }
                            let rq = NEONRequant(
                                table, t, block: b, requant, fast: false, float: requant.floatScales != nil)
                            let w = wp + b * 32
                            if taps == 9 {
                                run3x3(x, ph: ph, pw: pw, block: b, weights: w, offsets, rq, valid: valid, output)
                                continue
                            }
                            for n in 0..<g.batch {
                                for oh in 0..<g.outH {
                                    for ow in 0..<g.outW {
                                        let o: Int = ((n &* g.outH &+ oh) &* g.outW &+ ow) &* g.outC &+ b &* 16
                                        let i: Int =
                                            ((n &* ph &+ oh &* g.strideH) &* pw &+ ow &* g.strideW) &* cs &+ b &* 16
                                        let out = output + o, xb = UnsafeRawPointer(x + i)
                                        var a = NEONAccumulators(bias: rq.t)
                                        for tap in 0..<taps {
                                            let wt = w + tap &* weightStep
                                            Self.mac(
                                                &a,
                                                xb.loadUnaligned(fromByteOffset: offsets[tap], as: SIMD16<Int8>.self),
                                                wt.loadUnaligned(as: SIMD8<Int16>.self),
                                                wt.loadUnaligned(fromByteOffset: 16, as: SIMD8<Int16>.self))
                                        }
                                        rq.store(a, valid: valid, out)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        /// 16 products of one tap: the input bytes widened to int16 (`sxtl`), multiplied into the
        /// 4 accumulators with the tap's int16 weights (`smlal`, `smlal2`).
        @inline(__always)
        static func mac(_ a: inout NEONAccumulators, _ xv: SIMD16<Int8>, _ wl: SIMD8<Int16>, _ wh: SIMD8<Int16>) {
            let xl = vmovl_s8(vget_low_s8(xv)), xh = vmovl_high_s8(xv)
            a.a0 = vmlal_s16(a.a0, vget_low_s16(xl), vget_low_s16(wl))
            a.a1 = vmlal_high_s16(a.a1, xl, wl)
            a.a2 = vmlal_s16(a.a2, vget_low_s16(xh), vget_low_s16(wh))
            a.a3 = vmlal_high_s16(a.a3, xh, wh)
        }

        /// One block of a 3x3 layer: the 9 taps unrolled, their weights and offsets loaded once
        /// for all pixels (the registers the requantization leaves).
        func run3x3(
            _ x: UnsafePointer<Int8>, ph: Int, pw: Int, block b: Int, weights w: UnsafeRawPointer,
            _ offsets: UnsafeMutableBufferPointer<Int>, _ rq: NEONRequant, valid: Int,
            _ output: UnsafeMutablePointer<Int8>
        ) {
            let g = portable.p.geometry, cs = portable.channelStride, step = cs &* 2
            @inline(__always) func low(_ tap: Int) -> SIMD8<Int16> {
                w.loadUnaligned(fromByteOffset: tap &* step, as: SIMD8<Int16>.self)
            }
            @inline(__always) func high(_ tap: Int) -> SIMD8<Int16> {
                w.loadUnaligned(fromByteOffset: tap &* step &+ 16, as: SIMD8<Int16>.self)
            }
            let l0 = low(0), l1 = low(1), l2 = low(2), l3 = low(3), l4 = low(4)
            let l5 = low(5), l6 = low(6), l7 = low(7), l8 = low(8)
            let h0 = high(0), h1 = high(1), h2 = high(2), h3 = high(3), h4 = high(4)
            let h5 = high(5), h6 = high(6), h7 = high(7), h8 = high(8)
            let o0 = offsets[0], o1 = offsets[1], o2 = offsets[2], o3 = offsets[3], o4 = offsets[4]
            let o5 = offsets[5], o6 = offsets[6], o7 = offsets[7], o8 = offsets[8]
            let pixelStep = g.strideW &* cs
            for n in 0..<g.batch {
                for oh in 0..<g.outH {
                    let i: Int = (n &* ph &+ oh &* g.strideH) &* pw &* cs &+ b &* 16
                    let o: Int = (n &* g.outH &+ oh) &* g.outW &* g.outC &+ b &* 16
                    var xb = UnsafeRawPointer(x + i), out = output + o
                    for _ in 0..<g.outW {
                        var a = NEONAccumulators(bias: rq.t)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o0, as: SIMD16<Int8>.self), l0, h0)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o1, as: SIMD16<Int8>.self), l1, h1)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o2, as: SIMD16<Int8>.self), l2, h2)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o3, as: SIMD16<Int8>.self), l3, h3)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o4, as: SIMD16<Int8>.self), l4, h4)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o5, as: SIMD16<Int8>.self), l5, h5)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o6, as: SIMD16<Int8>.self), l6, h6)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o7, as: SIMD16<Int8>.self), l7, h7)
                        Self.mac(&a, xb.loadUnaligned(fromByteOffset: o8, as: SIMD16<Int8>.self), l8, h8)
                        rq.store(a, valid: valid, out)
                        xb += pixelStep
                        out += g.outC
                    }
                }
            }
        }

        /// The products of taps `x0`, `x1` (16 input bytes each) with their weights, summed in
        /// int16 lanes (`smull`, `smlal`; `pairs` says they fit), added to the accumulators
        /// (`saddw`, `saddw2`).
        @inline(__always)
        static func pair(
            _ a: inout NEONAccumulators, _ x0: SIMD16<Int8>, _ w0: SIMD16<Int8>, _ x1: SIMD16<Int8>, _ w1: SIMD16<Int8>
        ) {
            let lo = vmlal_s8(vmull_s8(vget_low_s8(x0), vget_low_s8(w0)), vget_low_s8(x1), vget_low_s8(w1))
            let hi = vmlal_high_s8(vmull_high_s8(x0, w0), x1, w1)
            widen(&a, lo, hi)
        }

        @inline(__always)
        static func widen(_ a: inout NEONAccumulators, _ lo: SIMD8<Int16>, _ hi: SIMD8<Int16>) {
            a.a0 = vaddw_s16(a.a0, vget_low_s16(lo))
            a.a1 = vaddw_high_s16(a.a1, lo)
            a.a2 = vaddw_s16(a.a2, vget_low_s16(hi))
            a.a3 = vaddw_high_s16(a.a3, hi)
        }

        /// One block of a 3x3 layer with its taps in pairs (`pairs`): weights `w` (16 bytes per
        /// tap, `channelStride` apart) in registers for all pixels.
        @inline(__always)
        func run3x3Pairs(
            _ x: UnsafePointer<Int8>, ph: Int, pw: Int, block b: Int, weights w: UnsafeRawPointer,
            _ offsets: UnsafeMutableBufferPointer<Int>, _ rq: NEONRequant, valid: Int,
            _ output: UnsafeMutablePointer<Int8>
        ) {
            let g = portable.p.geometry, cs = portable.channelStride
            @inline(__always) func tap(_ t: Int) -> SIMD16<Int8> {
                w.loadUnaligned(fromByteOffset: t &* cs, as: SIMD16<Int8>.self)
            }
            let w0 = tap(0), w1 = tap(1), w2 = tap(2), w3 = tap(3), w4 = tap(4)
            let w5 = tap(5), w6 = tap(6), w7 = tap(7), w8 = tap(8)
            let o0 = offsets[0], o1 = offsets[1], o2 = offsets[2], o3 = offsets[3], o4 = offsets[4]
            let o5 = offsets[5], o6 = offsets[6], o7 = offsets[7], o8 = offsets[8]
            let pixelStep = g.strideW &* cs, k = rq.scales
            for n in 0..<g.batch {
                for oh in 0..<g.outH {
                    let i: Int = (n &* ph &+ oh &* g.strideH) &* pw &* cs &+ b &* 16
                    let o: Int = (n &* g.outH &+ oh) &* g.outW &* g.outC &+ b &* 16
                    var xb = UnsafeRawPointer(x + i), out = output + o
                    for _ in 0..<g.outW {
                        @inline(__always) func input(_ offset: Int) -> SIMD16<Int8> {
                            xb.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
                        }
                        var a = NEONAccumulators(bias: rq.t)
                        Self.pair(&a, input(o0), w0, input(o1), w1)
                        Self.pair(&a, input(o2), w2, input(o3), w3)
                        Self.pair(&a, input(o4), w4, input(o5), w5)
                        Self.pair(&a, input(o6), w6, input(o7), w7)
                        let x8 = input(o8)
                        Self.widen(&a, vmull_s8(vget_low_s8(x8), vget_low_s8(w8)), vmull_high_s8(x8, w8))
                        rq.store(a, valid: valid, out, k)
                        xb += pixelStep
                        out += g.outC
                    }
                }
            }
        }
    }
}
#endif
