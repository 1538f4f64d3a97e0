// AArch64 dot-product path of the int8 regular convolution (ARMv8.2-A `sdot`: Apple A13,
// Cortex-A76, Snapdragon 855 and later), through the compiler's own clang intrinsics module (no
// package), compiled where the build defines FERCC_DOTPROD (with -march=armv8.2-a+dotprod).
// Same bits as the portable kernels.
// fercc-kernel requires: Int8/ARM64/DenseTiles+NEON.swift

#if arch(arm64) && FERCC_DOTPROD
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// int8 regular convolution with `sdot` (4 int8 products added into each int32 lane): steps of
    /// 4 output pixels x 16 output channels (16 accumulators of 4 lanes, 4 weight and 4 input
    /// registers), over 16 input channels of a tap at a time: 16 input bytes per load, each group
    /// of 4 taken by an indexed `sdot` (`sdot v.4s, w.16b, x.4b[k]`; a leftover group's 4 bytes
    /// replicated to every lane, `ld1r`). The loops around it are `denseTilesNEON`'s. Weights
    /// packed as [block of 16 outputs][tap][group of 4 inputs][16 outputs][4 inputs], zeros past
    /// the channels (stems: by im2col row, see `row`). Inputs read as they are (the zero point
    /// folded into the bias), or through a copy padded with the zero point when the layer pads or
    /// its channels are not a multiple of 4 (rounded up to 4: the extra bytes meet zero weights).
    struct QuantizedDenseConvDotProd {
        let p: QuantizedConvParameters
        let packed: [Int8]
        let table: NEONRequantTable
        /// Input channels rounded up to 4: bytes per pixel of what the loop reads.
        let stride: Int
        var copies: Bool { p.geometry.hasPadding || stride != p.geometry.inC }
        /// A stem (at most 4 input channels, several taps) runs as a 1x1 layer over rows of its
        /// taps' channels gathered per output pixel (im2col: `row` bytes each, channels of
        /// consecutive taps adjacent), so that they make 16-byte loads and indexed `sdot`s
        /// instead of a broadcast group of 4 bytes per tap, 1 to 3 of them real (MobileNetV2's
        /// 3-channel 3x3 stem: 27 bytes in 7 groups instead of 9; a gray 3x3 stem: 3 instead of
        /// 9). 0 for other layers.
        let row: Int
        var patches: Bool { row > 0 }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW, c = g.inC
            stride = (c + 3) / 4 * 4
            // Each tap's 4 bytes are stored c bytes after the previous tap's: the last ends at
            // (taps - 1) * c + 4.
            row = c <= 4 && taps > 1 ? ((taps - 1) * c + 4 + 3) / 4 * 4 : 0
            // Weights packed by k, the input byte's index in a tap-major row (k = t * kStep + ci).
            let kGroups = row > 0 ? row / 4 : taps * stride / 4, kStep = row > 0 ? c : stride
            var packed = [Int8](repeating: 0, count: p.blocks * kGroups * 64)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for ci in 0..<c {
                        let k = t * kStep + ci
                        packed[((oc / 16) * kGroups + k / 4) * 64 + oc % 16 * 4 + k % 4] =
                            p.weights[(oc * taps + t) * c + ci]
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

        var scratchBytes: Int {
            let g = p.geometry
            return paddedBytes + g.batch * g.outH * g.outW * row
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

        /// One step's `sdot`s (`quads`: groups of 16 input channels).
        struct Tile: NEONDenseTile {
            let taps: Int, groups: Int, quads: Int, step: Int

            typealias K = QuantizedDenseConvDotProd

            /// A lone pixel loads its block's weights for 4 `sdot`s where a step shares them
            /// among 16: ResNet18's 7-pixel rows as steps took 5% fewer instructions (177.2 M ->
            /// 168.2 M); as steps, rows' last 1 or 2 pixels cost more than alone.
            static var stepsOverRowEnds: Bool { true }

            @inline(__always)
            func tile(
                _ a: inout NEONPixels, _ first: UnsafePointer<Int8>, _ wb: UnsafeRawPointer,
                _ offsets: UnsafeMutableBufferPointer<Int>, pixels: Int
            ) {
                var w = wb
                guard pixels == 4 else {
                    for tap in 0..<taps {
                        var px = first + offsets[tap]
                        for _ in 0..<groups {
                            K.dot(&a.0, w, K.broadcast(px))
                            px += 4
                            w += 64
                        }
                    }
                    return
                }
                for tap in 0..<taps {
                    var px = first + offsets[tap]
                    // 16 input channels per load, each group of 4 an indexed `sdot` (lane k
                    // of the 16 bytes), unrolled by hand so that k stays a constant.
                    for _ in 0..<quads {
                        let x0 = K.quad(px), x1 = K.quad(px + step)
                        let x2 = K.quad(px + 2 &* step), x3 = K.quad(px + 3 &* step)
                        @inline(__always) func group(_ k: Int) {
                            let wk = w + k &* 64
                            K.dot(&a.0, wk, K.lane(x0, k))
                            K.dot(&a.1, wk, K.lane(x1, k))
                            K.dot(&a.2, wk, K.lane(x2, k))
                            K.dot(&a.3, wk, K.lane(x3, k))
                        }
                        group(0)
                        group(1)
                        group(2)
                        group(3)
                        px += 16
                        w += 256
                    }
                    for _ in 0..<(groups &- quads &* 4) {
                        K.dot(&a.0, w, K.broadcast(px))
                        K.dot(&a.1, w, K.broadcast(px + step))
                        K.dot(&a.2, w, K.broadcast(px + 2 &* step))
                        K.dot(&a.3, w, K.broadcast(px + 3 &* step))
                        px += 4
                        w += 64
                    }
                }
            }
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: stride, copy: copies, zeroPoint: p.inputZeroPoint, scratch)
            let taps = g.kernelH * g.kernelW, groups = stride / 4
            if patches {
                runPatches(x, paddedH: ph, paddedW: pw, output, scratch: scratch! + paddedBytes)
                return
            }
            packed.withUnsafeBufferPointer { pb in
                denseTilesNEON(
                    g, x, paddedH: ph, paddedW: pw, channelStride: stride, table, p.requant,
                    weights: UnsafeRawPointer(pb.baseAddress!), blockBytes: taps &* groups &* 64, output,
                    Tile(taps: taps, groups: groups, quads: groups / 4, step: g.strideW &* stride))
            }
        }

        func runPatches(
            _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, _ output: UnsafeMutablePointer<Int8>,
            scratch: UnsafeMutableRawPointer
        ) {
            let g = p.geometry
            withTapOffsets(g, paddedW: pw, channelStride: 4) { offsets in
                gatherRowsNEON(
                    x, g, paddedH: ph, paddedW: pw, channelStride: 4, row: row, scratch, offsets, UInt32.self)
            }
            let rows = Conv2DGeometry(
                input: (g.batch, g.outH, g.outW, row), output: (g.outH, g.outW, g.outC), kernel: (1, 1))
            let cols = UnsafeRawPointer(scratch).assumingMemoryBound(to: Int8.self)
            packed.withUnsafeBufferPointer { pb in
                denseTilesNEON(
                    rows, cols, paddedH: g.outH, paddedW: g.outW, channelStride: row, table, p.requant,
                    weights: UnsafeRawPointer(pb.baseAddress!), blockBytes: row &* 16, output,
                    Tile(taps: 1, groups: row / 4, quads: row / 16, step: row))
            }
        }
    }
}
#endif
