// fercc-kernel requires: Common/Geometry.swift

// The fp32 convolutions' weight layouts. The lowering packs the weights once, so generated code
// carries them packed and includes this file only for the int8 kernels' exact fp32 path.

extension Kernels {
    /// OHWI fp32 weights in the layout of the kernel that runs `g`: DepthwiseConv2DKernel's
    /// [kh][kw][C] for a depthwise convolution, Conv2DKernel's [group][block of 16 output
    /// channels][kh][kw][ci][16] for any other.
    public static func packConvolutionWeights(geometry g: Conv2DGeometry, weights: UnsafeBufferPointer<Float>)
        -> [Float]
    {
        g.isDepthwise ? packDepthwise(g, weights) : packDense(g, weights)
    }

    static func packDense(_ g: Conv2DGeometry, _ weights: UnsafeBufferPointer<Float>) -> [Float] {
        let lanes = 16
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        let blocks = (cog + lanes - 1) / lanes
        let taps = g.kernelH * g.kernelW * cig
        var p = [Float](repeating: 0, count: g.groups * blocks * taps * lanes)
        for grp in 0..<g.groups {
            for b in 0..<blocks {
                let base = (grp * blocks + b) * taps * lanes
                for l in 0..<lanes {
                    let co = b * lanes + l
                    guard co < cog else { continue }
                    let o = grp * cog + co
                    for t in 0..<taps {
                        p[base + t * lanes + l] = weights[o * taps + t]
                    }
                }
            }
        }
        return p
    }

    static func packDepthwise(_ g: Conv2DGeometry, _ weights: UnsafeBufferPointer<Float>) -> [Float] {
        let c = g.outC, taps = g.kernelH * g.kernelW
        var p = [Float](repeating: 0, count: taps * c)
        for ch in 0..<c {
            for t in 0..<taps { p[t * c + ch] = weights[ch * taps + t] }
        }
        return p
    }
}
