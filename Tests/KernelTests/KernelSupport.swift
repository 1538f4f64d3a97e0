import FerccKernels

/// Memory the pointer-taking kernels read in place (their packed weights and biases), kept
/// alive until the test case is released.
final class PinnedWeights {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for b in blocks { b.deallocate() } }

    func floats(_ values: [Float]) -> UnsafePointer<Float> {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(values.count, 16) * 4, alignment: 64)
        blocks.append(p)
        let f = p.bindMemory(to: Float.self, capacity: max(values.count, 16))
        f.initialize(from: values, count: values.count)
        return UnsafePointer(f)
    }

    /// OHWI weights packed for the convolution kernel of `g`'s kind (depthwise or not).
    func packed(_ g: Kernels.Conv2DGeometry, _ weights: [Float]) -> UnsafePointer<Float> {
        floats(
            weights.withUnsafeBufferPointer {
                Kernels.packConvolutionWeights(geometry: g, weights: $0)
            })
    }

    /// The fp32 convolution of `g` (depthwise or not) as a function of input, output and scratch.
    func convolution(
        _ g: Kernels.Conv2DGeometry, weights: [Float], bias: [Float], activation: Kernels.Activation = .identity
    )
        -> (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    {
        let w = packed(g, weights), b = floats(bias)
        if g.isDepthwise {
            let k = Kernels.DepthwiseConv2DKernel(geometry: g, packed: w, bias: b, activation: activation)
            return { k.run(input: $0, output: $1, scratch: $2) }
        }
        let k = Kernels.Conv2DKernel(geometry: g, packed: w, bias: b, activation: activation)
        return { k.run(input: $0, output: $1, scratch: $2) }
    }
}

/// The int8 convolution kernel of a geometry's kind: dense, depthwise or grouped.
struct Int8Convolution {
    let scratchBytes: Int
    let runner: (UnsafePointer<Int8>, UnsafeMutablePointer<Int8>, UnsafeMutableRawPointer) -> Void

    init(_ p: Kernels.QuantizedConvParameters) {
        if p.geometry.groups == 1 {
            let k = Kernels.QuantizedDenseConv2DKernel(p)
            (scratchBytes, runner) = (k.scratchBytes, { k.run(input: $0, output: $1, scratch: $2) })
        } else if p.geometry.isDepthwise {
            let k = Kernels.QuantizedDepthwiseConv2DKernel(p)
            (scratchBytes, runner) = (k.scratchBytes, { k.run(input: $0, output: $1, scratch: $2) })
        } else {
            let k = Kernels.QuantizedGroupedConv2DKernel(p)
            (scratchBytes, runner) = (0, { x, y, _ in k.run(input: x, output: y) })
        }
    }

    func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        runner(input, output, scratch)
    }
}
