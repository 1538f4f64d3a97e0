// fercc-kernel requires: Int8/QuantizedConvParameters.swift

extension Kernels {
    /// An int8 grouped convolution (and depthwise with a depth multiplier above one): TFLite's
    /// reference loop (ConvPerChannel), taps outside the image skipped.
    public struct QuantizedGroupedConv2DKernel {
        let p: QuantizedConvParameters

        @inline(never)
        public init(_ p: QuantizedConvParameters) { self.p = p }

        public var geometry: Conv2DGeometry { p.geometry }

        public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
            let g = p.geometry
            let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
            let zp = p.inputZeroPoint
            p.weights.withUnsafeBufferPointer { wb in
                let w = wb.baseAddress!
                for n in 0..<g.batch {
                    for oh in 0..<g.outH {
                        let y0 = oh * g.strideH - g.padTop
                        for ow in 0..<g.outW {
                            let x0 = ow * g.strideW - g.padLeft
                            let out = output + ((n * g.outH + oh) * g.outW + ow) * g.outC
                            for oc in 0..<g.outC {
                                let grp = oc / cog
                                var acc: Int32 = 0
                                for kh in 0..<g.kernelH {
                                    let y = y0 + kh * g.dilationH
                                    if y < 0 || y >= g.inH { continue }
                                    for kw in 0..<g.kernelW {
                                        let x = x0 + kw * g.dilationW
                                        if x < 0 || x >= g.inW { continue }
                                        let px = input + ((n * g.inH + y) * g.inW + x) * g.inC + grp * cig
                                        let pw = w + ((oc * g.kernelH + kh) * g.kernelW + kw) * cig
                                        for ci in 0..<cig {
                                            acc = acc &+ Int32(pw[ci]) &* (Int32(px[ci]) &- zp)
                                        }
                                    }
                                }
                                out[oc] = Int8(truncatingIfNeeded: p.requant.apply(acc &+ p.bias[oc], channel: oc))
                            }
                        }
                    }
                }
            }
        }
    }
}
