// ARMv8.0 NEON path of the int8 regular convolution (AArch64 without the dot product), through
// the compiler's own clang intrinsics module (no package; NEON is part of AArch64's base
// instruction set). Same bits as the portable kernels.
// fercc-kernel requires: Int8/ARM64/DenseTiles+NEON.swift

#if arch(arm64) && !FERCC_DOTPROD
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 regular convolution with widening multiply-adds by element: steps of 4 output
    /// pixels x 16 output channels (16 accumulators of 4 lanes), over 8 input channels of a tap
    /// at a time: each pixel's 8 input bytes loaded and widened to int16 once (`sxtl`), then per
    /// input channel its 16 int16 weights (2 registers, shared by the 4 pixels) multiplied by
    /// that channel's lane into the accumulators (`smlal`/`smlal2 v.4s, w, x.h[k]`): 16
    /// products per instruction pair of 4. Weights packed as int16 [block of 16 outputs][tap]
    /// [input channel, rounded up to 8][16 outputs], zeros past the channels. Inputs read as they
    /// are (the zero point folded into the bias), or through a copy padded with the zero point
    /// when the layer pads or its channels are not a multiple of 8. The loops around it are
    /// `denseTilesNEON`'s.
    struct QuantizedDenseConvNEON {
        let p: QuantizedConvParameters
        let packed: [Int16]
        let table: NEONRequantTable
        /// Input channels rounded up to 8: elements per pixel of what the loop reads.
        let stride: Int
        var copies: Bool { p.geometry.hasPadding || stride != p.geometry.inC }
        /// A layer with under 8 input channels and several taps (a stem) runs as a 1x1 layer over
        /// im2col rows of `row` bytes (`gatherRowsNEON`), each tap's channels right after the
        /// previous tap's, instead of a group of 8 lanes per tap, 1 to 7 of them real (a 3x3 RGB
        /// stem: 4 groups instead of 9). 0 for other layers.
        let row: Int
        var patches: Bool { row > 0 }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW, c = g.inC
            stride = (c + 7) / 8 * 8
            row = c < 8 && taps > 1 ? ((taps - 1) * c + 8 + 7) / 8 * 8 : 0
            // Weights packed by k, the input element's index in a tap-major row.
            let kLength = row > 0 ? row : taps * stride, kStep = row > 0 ? c : stride
            var packed = [Int16](repeating: 0, count: p.blocks * kLength * 16)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for ci in 0..<c {
                        packed[((oc / 16) * kLength + t * kStep + ci) * 16 + oc % 16] =
                            Int16(p.weights[(oc * taps + t) * c + ci])
                    }
                }
            }
            self.packed = packed
            table = NEONRequantTable(p, bias: p.folded)
        }

        /// Bytes of the zero-point-padded copy (at the start of the scratch), then of the rows.
        var paddedBytes: Int {
            let g = p.geometry
            return copies ? g.batch * g.paddedH * g.paddedW * stride : 0
        }

        var scratchBytes: Int { paddedBytes + p.geometry.batch * p.geometry.outH * p.geometry.outW * row }

        /// One pixel's 8 input bytes as int16.
        @inline(__always)
        static func eight(_ p: UnsafePointer<Int8>) -> SIMD8<Int16> {
            vmovl_s8(UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self))
        }

        /// Input channel `k` of `x` times its 16 weights (`w`: outputs 0-7, 8-15) into `a`.
        @inline(__always)
        static func mac(
            _ a: inout NEONAccumulators, _ w0: SIMD8<Int16>, _ w1: SIMD8<Int16>, _ x: SIMD8<Int16>, _ k: Int
        ) {
            let low = SIMD4<Int16>(repeating: x[k]), all = SIMD8<Int16>(repeating: x[k])
            a.a0 = vmlal_s16(a.a0, vget_low_s16(w0), low)
            a.a1 = vmlal_high_s16(a.a1, w0, all)
            a.a2 = vmlal_s16(a.a2, vget_low_s16(w1), low)
            a.a3 = vmlal_high_s16(a.a3, w1, all)
        }

        /// 8 input channels of up to 4 pixels (`x1`-`x3` unused past `pixels`).
        @inline(__always)
        static func group(
            _ a: inout NEONPixels,
            _ w: UnsafeRawPointer, _ x0: SIMD8<Int16>, _ x1: SIMD8<Int16>, _ x2: SIMD8<Int16>, _ x3: SIMD8<Int16>,
            pixels: Int
        ) {
            // Unrolled by hand: as a loop, LLVM keeps the lane index a variable (an extract
            // through memory per channel) instead of the by-element form.
            @inline(__always) func channel(_ k: Int) {
                let w0 = w.loadUnaligned(fromByteOffset: k &* 32, as: SIMD8<Int16>.self)
                let w1 = w.loadUnaligned(fromByteOffset: k &* 32 &+ 16, as: SIMD8<Int16>.self)
                mac(&a.0, w0, w1, x0, k)
                if pixels > 1 {
                    mac(&a.1, w0, w1, x1, k)
                    mac(&a.2, w0, w1, x2, k)
                    mac(&a.3, w0, w1, x3, k)
                }
            }
            channel(0)
            channel(1)
            channel(2)
            channel(3)
            channel(4)
            channel(5)
            channel(6)
            channel(7)
        }

        /// One step's widening multiply-adds.
        struct Tile: NEONDenseTile {
            let taps: Int, groups: Int, step: Int

            typealias K = QuantizedDenseConvNEON

            /// Lone pixels cost less here than a step's extra pixel (ResNet18: 556.6 M
            /// instructions as they are, 562.0 M with its 7-pixel rows' ends as steps).
            static var stepsOverRowEnds: Bool { false }

            @inline(__always)
            func tile(
                _ a: inout NEONPixels, _ first: UnsafePointer<Int8>, _ wb: UnsafeRawPointer,
                _ offsets: UnsafeMutableBufferPointer<Int>, pixels: Int
            ) {
                var w = wb
                for tap in 0..<taps {
                    var px = first + offsets[tap]
                    for _ in 0..<groups {
                        if pixels == 4 {
                            K.group(
                                &a, w, K.eight(px), K.eight(px + step), K.eight(px + 2 &* step),
                                K.eight(px + 3 &* step), pixels: 4)
                        } else {
                            let x0 = K.eight(px)
                            K.group(&a, w, x0, x0, x0, x0, pixels: 1)
                        }
                        px += 8
                        w += 256
                    }
                }
            }
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: stride, copy: copies, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, groups = stride / 8
            if patches {
                runPatches(x, paddedH: ph, paddedW: pw, output, scratch: scratch! + paddedBytes)
                return
            }
            packed.withUnsafeBufferPointer { pb in
                denseTilesNEON(
                    g, x, paddedH: ph, paddedW: pw, channelStride: stride, table, p.requant,
                    weights: UnsafeRawPointer(pb.baseAddress!), blockBytes: taps &* stride &* 32, output,
                    Tile(taps: taps, groups: groups, step: g.strideW &* stride))
            }
        }

        /// `QuantizedDenseConvDotProd.runPatches` with 8-byte groups.
        func runPatches(
            _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, _ output: UnsafeMutablePointer<Int8>,
            scratch: UnsafeMutableRawPointer
        ) {
            let g = p.geometry
            withTapOffsets(g, paddedW: pw, channelStride: stride) { offsets in
                gatherRowsNEON(
                    x, g, paddedH: ph, paddedW: pw, channelStride: stride, row: row, scratch, offsets, UInt64.self)
            }
            let rows = Conv2DGeometry(
                input: (g.batch, g.outH, g.outW, row), output: (g.outH, g.outW, g.outC), kernel: (1, 1))
            let cols = UnsafeRawPointer(scratch).assumingMemoryBound(to: Int8.self)
            packed.withUnsafeBufferPointer { pb in
                denseTilesNEON(
                    rows, cols, paddedH: g.outH, paddedW: g.outW, channelStride: row, table, p.requant,
                    weights: UnsafeRawPointer(pb.baseAddress!), blockBytes: row &* 32, output,
                    Tile(taps: 1, groups: row / 8, step: row))
            }
        }
    }
}
#endif
