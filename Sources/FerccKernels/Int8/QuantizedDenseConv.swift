// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedPadding.swift Float/Conv2D.swift Float/Packing.swift
// fercc-kernel requires: Int8/QuantizedConvParameters.swift

extension Kernels {
    /// Portable int8 regular convolution on 16-lane int32 vectors over output channels: weights
    /// widened to int16 as [block of 16 outputs][kh][kw][ci][16], tiles of 4 output pixels.
    struct QuantizedDenseConv {
        let p: QuantizedConvParameters
        let packed: [Int16]
        let table: [Int32]
        var geometry: Conv2DGeometry { p.geometry }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW, ci = g.inC
            var packed = [Int16](repeating: 0, count: p.blocks * taps * ci * 16)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for c in 0..<ci {
                        packed[(((oc / 16) * taps + t) * ci + c) * 16 + oc % 16] = Int16(
                            p.weights[(oc * taps + t) * ci + c])
                    }
                }
            }
            self.packed = packed
            table = p.table(bias: p.folded)
        }

        var scratchBytes: Int {
            let g = p.geometry
            return g.hasPadding ? g.batch * g.paddedH * g.paddedW * g.inC : 0
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: g.inC, copy: g.hasPadding, zeroPoint: p.inputZeroPoint, scratch)
            let c = g.inC, taps = g.kernelH * g.kernelW, blocks = p.blocks
            let step = g.strideW * c
            packed.withUnsafeBufferPointer { pb in
                table.withUnsafeBufferPointer { tb in
                    let wp = pb.baseAddress!, table = tb.baseAddress!
                    @inline(__always) func finish(_ acc: Int32Vector, _ b: Int, _ out: UnsafeMutablePointer<Int8>) {
                        requantizeBlock(acc, block: b, table, p.requant, channels: g.outC, out)
                    }
                    for n in 0..<g.batch {
                        for oh in 0..<g.outH {
                            let rowBase = x + (n * ph + oh * g.strideH) * pw * c
                            let outRow = output + (n * g.outH + oh) * g.outW * g.outC
                            var ow = 0
                            while ow + 4 <= g.outW {
                                for b in 0..<blocks {
                                    var a0 = Int32Vector(), a1 = Int32Vector(), a2 = Int32Vector(), a3 = Int32Vector()
                                    var w = wp + b * taps * c * 16
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<g.kernelW {
                                            let px =
                                                rowBase + (kh * g.dilationH * pw + ow * g.strideW + kw * g.dilationW)
                                                * c
                                            for ci in 0..<c {
                                                let wv = loadWeights16(w)
                                                a0 &+= wv &* Int32Vector(repeating: Int32(px[ci]))
                                                a1 &+= wv &* Int32Vector(repeating: Int32(px[ci + step]))
                                                a2 &+= wv &* Int32Vector(repeating: Int32(px[ci + 2 * step]))
                                                a3 &+= wv &* Int32Vector(repeating: Int32(px[ci + 3 * step]))
                                                w += 16
                                            }
                                        }
                                    }
                                    let out = outRow + ow * g.outC
                                    finish(a0, b, out)
                                    finish(a1, b, out + g.outC)
                                    finish(a2, b, out + 2 * g.outC)
                                    finish(a3, b, out + 3 * g.outC)
                                }
                                ow += 4
                            }
                            while ow < g.outW {
                                for b in 0..<blocks {
                                    var a0 = Int32Vector()
                                    var w = wp + b * taps * c * 16
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<g.kernelW {
                                            let px =
                                                rowBase + (kh * g.dilationH * pw + ow * g.strideW + kw * g.dilationW)
                                                * c
                                            for ci in 0..<c {
                                                a0 &+= loadWeights16(w) &* Int32Vector(repeating: Int32(px[ci]))
                                                w += 16
                                            }
                                        }
                                    }
                                    finish(a0, b, outRow + ow * g.outC)
                                }
                                ow += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// A portable int8 regular convolution computed by the fp32 kernel: when no partial sum can
    /// reach 2^24 (sum(|w|) * 255 below it for every output channel), every float32 accumulation
    /// of the integer products is exact, so the fp32 kernel on (x - zero point) gives the int32
    /// sums, requantized as the integer kernel does, at the fp32 kernel's speed. (Depthwise layers
    /// measured slower that way: the float copy of the input costs more than their few MACs save.)
    struct QuantizedDenseConvExact {
        let p: QuantizedConvParameters
        /// The weights as floats in the fp32 kernel's layout, and its zero bias.
        let packed: [Float]
        let zeros: [Float]
        /// `QuantizedDenseConv`'s table with the unfolded bias.
        let table: [Int32]

        static func applies(_ p: QuantizedConvParameters) -> Bool { (p.absSums.max() ?? 0) <= ((1 << 24) - 1) / 255 }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            // The dense layout always: a 1-in 1-out convolution is also "depthwise" by its
            // geometry, and packConvolutionWeights would lay it out for the depthwise kernel.
            packed = p.weights.map { Float($0) }.withUnsafeBufferPointer { packDense(p.geometry, $0) }
            zeros = [Float](repeating: 0, count: p.geometry.outC)
            table = p.table(bias: p.bias)
        }

        static func rounded16(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        var inputCount: Int { p.geometry.batch * p.geometry.inH * p.geometry.inW * p.geometry.inC }
        var outputCount: Int { p.geometry.batch * p.geometry.outH * p.geometry.outW * p.geometry.outC }
        var scratchFloats: Int {
            Self.rounded16(inputCount) + Self.rounded16(outputCount) + 16 + p.geometry.paddedInputCount
        }
        var scratchBytes: Int { scratchFloats * 4 }

        /// x - zp to float, the fp32 kernel, then the integer requantization.
        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
            let f = scratch.bindMemory(to: Float.self, capacity: scratchFloats)
            let zp = p.inputZeroPoint
            for i in 0..<inputCount { f[i] = Float(Int32(input[i]) &- zp) }
            let y = f + Self.rounded16(inputCount)
            let ks = y + Self.rounded16(outputCount) + 16
            // The last pixel's last block reads up to 16 floats past the output: zeros, not garbage
            // (a float conversion of garbage could trap).
            (y + outputCount).initialize(repeating: 0, count: Self.rounded16(outputCount) + 16 - outputCount)
            packed.withUnsafeBufferPointer { w in
                zeros.withUnsafeBufferPointer { z in
                    Conv2DKernel(geometry: p.geometry, packed: w.baseAddress!, bias: z.baseAddress!).run(
                        input: f, output: y, scratch: ks, clamp: NoClamp())
                }
            }
            let c = p.geometry.outC
            table.withUnsafeBufferPointer { t in
                for pixel in 0..<(p.geometry.batch * p.geometry.outH * p.geometry.outW) {
                    let row = y + pixel * c
                    for b in 0..<p.blocks {
                        let v = UnsafeRawPointer(row + b * 16).loadUnaligned(as: SIMD16<Float>.self)
                        var acc = Int32Vector()
                        // Exact integers in the block's channels; lanes past the last channel hold
                        // whatever the fp32 kernel left after the output (its vector stores may
                        // reach past it), are not stored, and are not converted (a float out of
                        // Int32's range traps).
                        for i in 0..<Swift.min(16, c - b * 16) { acc[i] = Int32(v[i]) }
                        requantizeBlock(acc, block: b, t.baseAddress!, p.requant, channels: c, output + pixel * c)
                    }
                }
            }
        }
    }
}
