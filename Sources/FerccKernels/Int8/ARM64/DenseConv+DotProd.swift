// AArch64 dot-product path of the int8 regular convolution (ARMv8.2-A `sdot`: Apple A13,
// Cortex-A76, Snapdragon 855 and later), through the compiler's own clang intrinsics module (no
// package), compiled where the build defines FERCC_DOTPROD (with -march=armv8.2-a+dotprod).
// Same bits as the portable kernels.
// fercc-kernel requires: Int8/ARM64/Requantize+NEON.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift

#if arch(arm64) && FERCC_DOTPROD
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 regular convolution with `sdot` (4 int8 products added into each int32 lane): steps of
    /// 4 output pixels x 16 output channels (16 accumulators of 4 lanes, 4 weight and 4 input
    /// registers), over 16 input channels of a tap at a time: 16 input bytes per load, each group
    /// of 4 taken by an indexed `sdot` (`sdot v.4s, w.16b, x.4b[k]`; a leftover group's 4 bytes
    /// replicated to every lane, `ld1r`). Blocks of 16 outputs are the outermost loop, so that
    /// their requantization constants and biases are loaded once. Weights packed as [block of 16 outputs][tap][group of 4
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

        /// 16 input bytes (4 groups of 4 channels) of one pixel.
        @inline(__always)
        static func quad(_ p: UnsafePointer<Int8>) -> SIMD4<Int32> {
            UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Int32>.self)
        }

        /// Group `k` of a quad in every lane: LLVM folds it into the indexed `sdot v.4s, w.16b, x.4b[k]`.
        @inline(__always)
        static func lane(_ x: SIMD4<Int32>, _ k: Int) -> SIMD16<Int8> {
            unsafeBitCast(SIMD4<Int32>(repeating: x[k]), to: SIMD16<Int8>.self)
        }

        @inline(__always)
        static func dot(_ a: inout NEONAccumulators, _ w: UnsafeRawPointer, _ x: SIMD16<Int8>) {
            a.a0 = vdotq_s32(a.a0, w.loadUnaligned(as: SIMD16<Int8>.self), x)
            a.a1 = vdotq_s32(a.a1, w.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self), x)
            a.a2 = vdotq_s32(a.a2, w.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int8>.self), x)
            a.a3 = vdotq_s32(a.a3, w.loadUnaligned(fromByteOffset: 48, as: SIMD16<Int8>.self), x)
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: stride, copy: copies, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, groups = stride / 4, blocks = p.blocks
            let quads = groups / 4  // groups of 16 input channels
            // A 1x1 convolution with stride 1 and no padding reads and writes each image's pixels
            // in order: one row of them all, so that only the image's last pixels miss a step of 4.
            let flat = taps == 1 && g.strideH == 1 && g.strideW == 1 && !g.hasPadding && pw == g.outW
            let rows = flat ? 1 : g.outH, cols = flat ? g.outH * g.outW : g.outW
            let step = g.strideW &* stride
            let requant = p.requant, outC = g.outC, leftShift = table.leftShift
            packed.withUnsafeBufferPointer { pb in
                table.values.withUnsafeBufferPointer { tb in
                    let wp = UnsafeRawPointer(pb.baseAddress!), t = tb.baseAddress!
                    withTapOffsets(g, paddedW: pw, channelStride: stride) { offsets in
                        // Blocks outermost: a block's requantization constants stay in registers.
                        for b in 0..<blocks {
                            let rq = NEONRequant(t, block: b, requant, leftShift: leftShift)
                            let bias = NEONAccumulators(bias: rq.t)
                            let valid = outC &- b &* 16
                            let wOffset: Int = b &* taps &* groups &* 64
                            let wb = wp + wOffset
                            for n in 0..<g.batch {
                                for oh in 0..<rows {
                                    let i: Int = (n &* ph &+ oh &* g.strideH) &* pw &* stride
                                    let o: Int = (n &* g.outH &+ oh) &* g.outW &* outC &+ b &* 16
                                    let rowBase = x + i, outRow = output + o
                                    var ow = 0
                                    while ow + 4 <= cols {
                                        let first = rowBase + ow &* step
                                        var p0 = bias, p1 = bias, p2 = bias, p3 = bias
                                        var w = wb
                                        for tap in 0..<taps {
                                            var px = first + offsets[tap]
                                            // 16 input channels per load, each group of 4 an
                                            // indexed `sdot` (lane k of the 16 bytes).
                                            for _ in 0..<quads {
                                                let x0 = Self.quad(px), x1 = Self.quad(px + step)
                                                let x2 = Self.quad(px + 2 &* step), x3 = Self.quad(px + 3 &* step)
                                                Self.dot(&p0, w, Self.lane(x0, 0))
                                                Self.dot(&p1, w, Self.lane(x1, 0))
                                                Self.dot(&p2, w, Self.lane(x2, 0))
                                                Self.dot(&p3, w, Self.lane(x3, 0))
                                                Self.dot(&p0, w + 64, Self.lane(x0, 1))
                                                Self.dot(&p1, w + 64, Self.lane(x1, 1))
                                                Self.dot(&p2, w + 64, Self.lane(x2, 1))
                                                Self.dot(&p3, w + 64, Self.lane(x3, 1))
                                                Self.dot(&p0, w + 128, Self.lane(x0, 2))
                                                Self.dot(&p1, w + 128, Self.lane(x1, 2))
                                                Self.dot(&p2, w + 128, Self.lane(x2, 2))
                                                Self.dot(&p3, w + 128, Self.lane(x3, 2))
                                                Self.dot(&p0, w + 192, Self.lane(x0, 3))
                                                Self.dot(&p1, w + 192, Self.lane(x1, 3))
                                                Self.dot(&p2, w + 192, Self.lane(x2, 3))
                                                Self.dot(&p3, w + 192, Self.lane(x3, 3))
                                                px += 16
                                                w += 256
                                            }
                                            for _ in 0..<(groups &- quads &* 4) {
                                                Self.dot(&p0, w, Self.broadcast(px))
                                                Self.dot(&p1, w, Self.broadcast(px + step))
                                                Self.dot(&p2, w, Self.broadcast(px + 2 &* step))
                                                Self.dot(&p3, w, Self.broadcast(px + 3 &* step))
                                                px += 4
                                                w += 64
                                            }
                                        }
                                        let out = outRow + ow &* outC
                                        rq.store(p0, valid: valid, out)
                                        rq.store(p1, valid: valid, out + outC)
                                        rq.store(p2, valid: valid, out + 2 &* outC)
                                        rq.store(p3, valid: valid, out + 3 &* outC)
                                        ow += 4
                                    }
                                    while ow < cols {
                                        let first = rowBase + ow &* step
                                        var p0 = bias
                                        var w = wb
                                        for tap in 0..<taps {
                                            var px = first + offsets[tap]
                                            for _ in 0..<groups {
                                                Self.dot(&p0, w, Self.broadcast(px))
                                                px += 4
                                                w += 64
                                            }
                                        }
                                        rq.store(p0, valid: valid, outRow + ow &* outC)
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
}
#endif
