// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedPadding.swift Int8/QuantizedConvParameters.swift

extension Kernels {
    /// Portable int8 depthwise convolution (one channel per group) on 16-lane int32 vectors over
    /// channels: weights widened to int16 as [kh][kw][channels padded to 16].
    struct QuantizedDepthwiseConv {
        let p: QuantizedConvParameters
        let packed: [Int16]
        let table: [Int32]
        /// Bytes per pixel of the padded input copy (channels padded to 16).
        let channelStride: Int
        var needsPaddedCopy: Bool { p.geometry.hasPadding || p.geometry.inC != channelStride }

        init(_ p: QuantizedConvParameters) {
            self.p = p
            let g = p.geometry, taps = g.kernelH * g.kernelW, lanes = p.blocks * 16
            var packed = [Int16](repeating: 0, count: taps * lanes)
            for c in 0..<g.outC {
                for t in 0..<taps { packed[t * lanes + c] = Int16(p.weights[c * taps + t]) }
            }
            self.packed = packed
            table = p.table(bias: p.folded)
            channelStride = lanes
        }

        var scratchBytes: Int {
            let g = p.geometry
            return needsPaddedCopy ? g.batch * g.paddedH * g.paddedW * channelStride : 0
        }

        func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
            let g = p.geometry
            let (x, ph, pw) = zeroPointPadded(
                input, g, channelStride: channelStride, copy: needsPaddedCopy,
                zeroPoint: p.inputZeroPoint, scratch)
            let cs = channelStride
            packed.withUnsafeBufferPointer { pb in
                table.withUnsafeBufferPointer { tb in
                    let wp = pb.baseAddress!
                    for n in 0..<g.batch {
                        for oh in 0..<g.outH {
                            for ow in 0..<g.outW {
                                let out = output + ((n * g.outH + oh) * g.outW + ow) * g.outC
                                let base = x + ((n * ph + oh * g.strideH) * pw + ow * g.strideW) * cs
                                for b in 0..<p.blocks {
                                    var acc = Int32Vector()
                                    var t = 0
                                    for kh in 0..<g.kernelH {
                                        for kw in 0..<g.kernelW {
                                            let px = base + (kh * g.dilationH * pw + kw * g.dilationW) * cs + b * 16
                                            let xv = widen(UnsafeRawPointer(px).loadUnaligned(as: SIMD16<Int8>.self))
                                            acc &+= xv &* loadWeights16(wp + t * cs + b * 16)
                                            t += 1
                                        }
                                    }
                                    requantizeBlock(acc, block: b, tb.baseAddress!, p.requant, channels: g.outC, out)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
