// The loops the AArch64 int8 regular convolutions (`sdot` and ARMv8.0 NEON) share.
// fercc-kernel requires: Int8/ARM64/Requantize+NEON.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift

#if arch(arm64)
extension Kernels {
    /// A kernel's products for one step (a type, not a closure: as a closure it stayed a call per
    /// step, its accumulators through memory, at 1.25x the instructions).
    protocol NEONDenseTile {
        /// Adds the products of `pixels` (4 or 1) pixels from `first` (the first pixel's input)
        /// with the block's `weights` to `a`.
        func tile(
            _ a: inout NEONPixels, _ first: UnsafePointer<Int8>, _ weights: UnsafeRawPointer,
            _ offsets: UnsafeMutableBufferPointer<Int>, pixels: Int)
        /// Whether a row's last 3 pixels run as one more step of 4 ending at the row's end (over
        /// a pixel already written) rather than one at a time.
        static var stepsOverRowEnds: Bool { get }
    }

    /// For stems run as 1x1 layers over im2col rows: writes, per output pixel of `g`, one row of
    /// `row` bytes at `dst` holding its taps' input bytes, each tap's `W` (a group's load: 4 or 8
    /// bytes) read at `offsets` (`withTapOffsets`) from `x` (`pw` pixels wide, `channelStride`
    /// bytes per pixel, at least `W`) and stored `g.inC` bytes after the previous tap's, so that
    /// consecutive taps' channels are adjacent (bytes past the last tap's meet zero weights). The
    /// offsets come from the caller: with `withTapOffsets`' closure in here, it stayed a call and
    /// the `sdot` build of MobileNetV2 int8 took 0.8 M more instructions.
    @inline(__always)
    static func gatherRowsNEON<W>(
        _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, paddedH ph: Int, paddedW pw: Int, channelStride cs: Int,
        row: Int, _ dst: UnsafeMutableRawPointer, _ offsets: UnsafeMutableBufferPointer<Int>, _ width: W.Type
    ) {
        let taps = g.kernelH * g.kernelW, c = g.inC
        var d = dst
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                var src = UnsafeRawPointer(x + (n &* ph &+ oh &* g.strideH) &* pw &* cs)
                for _ in 0..<g.outW {
                    for t in 0..<taps {
                        d.storeBytes(
                            of: src.loadUnaligned(fromByteOffset: offsets[t], as: W.self), toByteOffset: t &* c,
                            as: W.self)
                    }
                    src += g.strideW &* cs
                    d += row
                }
            }
        }
    }

    /// Walks an int8 regular convolution's output in steps of 16 channels x 4 pixels: blocks of 16
    /// output channels outermost (their requantization constants and biases are loaded once),
    /// then output rows, then steps of 4 pixels (a row's last 3 as one more step ending at its end,
    /// if the kernel's `stepsOverRowEnds`) and single leftover pixels; a 1x1 stride-1 unpadded
    /// layer runs as one row of all an image's pixels. `kernel.tile(&a, first, weights, offsets,
    /// pixels:)` adds the products of a step to accumulators that start from the bias (`first`:
    /// the first pixel's input, `weights`: the block's, `blockBytes` apart), which are then
    /// requantized and stored.
    @inline(__always)
    static func denseTilesNEON<K: NEONDenseTile>(
        _ g: Conv2DGeometry, _ x: UnsafePointer<Int8>, paddedH ph: Int, paddedW pw: Int, channelStride stride: Int,
        _ table: NEONRequantTable, _ requant: Requantization, weights: UnsafeRawPointer, blockBytes: Int,
        _ output: UnsafeMutablePointer<Int8>, _ kernel: K
    ) {
        let taps = g.kernelH * g.kernelW, outC = g.outC, step = g.strideW &* stride
        let flat = taps == 1 && g.strideH == 1 && g.strideW == 1 && !g.hasPadding && pw == g.outW
        let rows = flat ? 1 : g.outH, cols = flat ? g.outH * g.outW : g.outW
        table.values.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            withTapOffsets(g, paddedW: pw, channelStride: stride) { offsets in
                for b in 0..<((outC + 15) / 16) {
                    NEONRequant.withBlock(table, t, block: b, outC: outC, requant) { rq in
                        let bias = NEONAccumulators(bias: rq.t)
                        let valid = outC &- b &* 16
                        let wOffset: Int = b &* blockBytes
                        let wb = weights + wOffset
                        for n in 0..<g.batch {
                            for oh in 0..<rows {
                                let i: Int = (n &* ph &+ oh &* g.strideH) &* pw &* stride
                                let o: Int = (n &* g.outH &+ oh) &* g.outW &* outC &+ b &* 16
                                let rowBase = x + i, outRow = output + o
                                // One step of 4 pixels from `ow`; each inlined `tile` sees a
                                // constant pixel count.
                                @inline(__always) func fourPixels(_ ow: Int) {
                                    var a = (bias, bias, bias, bias)
                                    kernel.tile(&a, rowBase + ow &* step, wb, offsets, pixels: 4)
                                    rq.store(a, valid: valid, outRow + ow &* outC, pixelStride: outC)
                                }
                                var ow = 0
                                while ow + 4 <= cols {
                                    fourPixels(ow)
                                    ow &+= 4
                                }
                                // A row's last 3 pixels as one more whole step ending at its end,
                                // over a pixel already written (the same bytes again), where the
                                // kernel asks for it (`stepsOverRowEnds`).
                                if K.stepsOverRowEnds && cols &- ow == 3 && cols >= 4 {
                                    fourPixels(cols &- 4)
                                    ow = cols
                                }
                                while ow < cols {
                                    var a = (bias, bias, bias, bias)
                                    kernel.tile(&a, rowBase + ow &* step, wb, offsets, pixels: 1)
                                    rq.store(a.0, valid: valid, outRow + ow &* outC)
                                    ow &+= 1
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
