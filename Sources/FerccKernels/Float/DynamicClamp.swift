// fercc-kernel requires: Float/Conv2D.swift Float/DepthwiseConv2D.swift Float/DepthwisePointwise.swift
// fercc-kernel requires: Float/ExpandDepthwisePointwise.swift

// The convolutions' `run` with their clamps chosen at run time, for the interpreter, which runs
// every kind: each turns the kernel's stored clamp into a type (`dispatch`) and calls
// the generic `run`. Generated code knows each kernel's clamp and calls the generic `run` itself,
// so it compiles only the kinds its model uses and never includes this file.

extension Kernels {
    /// Something to run with a clamp known as a type: `dispatch` turns the run-time
    /// clamp of a kernel into that type for the interpreter, which runs every kind.
    public protocol ClampedCall {
        func callAsFunction<C: VectorClamp>(_ clamp: C)
    }

    /// Calls `call` with the clamp of `clamp` as a type (`NoClamp` for nil).
    @inline(__always)
    public static func dispatch<F: ClampedCall>(_ clamp: OutputClamp?, _ call: F) {
        switch clamp {
        case nil: call(NoClamp())
        case .relu?: call(ReluClamp())
        case .clip(let lo, let hi)?: call(ClipClamp(low: lo, high: hi))
        }
    }
}

extension Kernels.Conv2DKernel {
    public func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        struct Call: Kernels.ClampedCall {
            let k: Kernels.Conv2DKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>
            func callAsFunction<C: Kernels.VectorClamp>(_ c: C) {
                k.run(input: input, output: output, scratch: scratch, clamp: c)
            }
        }
        Kernels.dispatch(clamp, Call(k: self, input: input, output: output, scratch: scratch))
    }
}

extension Kernels.DepthwiseConv2DKernel {
    public func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        struct Call: Kernels.ClampedCall {
            let k: Kernels.DepthwiseConv2DKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>
            func callAsFunction<C: Kernels.VectorClamp>(_ c: C) {
                k.run(input: input, output: output, scratch: scratch, clamp: c)
            }
        }
        Kernels.dispatch(clamp, Call(k: self, input: input, output: output, scratch: scratch))
    }
}

extension Kernels.DepthwisePointwiseKernel {
    public func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        struct Pointwise<D: Kernels.VectorClamp>: Kernels.ClampedCall {
            let k: Kernels.DepthwisePointwiseKernel, d: D, input: UnsafePointer<Float>,
                output: UnsafeMutablePointer<Float>
            let scratch: UnsafeMutablePointer<Float>
            func callAsFunction<P: Kernels.VectorClamp>(_ p: P) {
                k.run(input: input, output: output, scratch: scratch, depthwiseClamp: d, pointwiseClamp: p)
            }
        }
        struct Depthwise: Kernels.ClampedCall {
            let k: Kernels.DepthwisePointwiseKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>
            func callAsFunction<D: Kernels.VectorClamp>(_ d: D) {
                Kernels.dispatch(
                    k.fullBand.clamp, Pointwise(k: k, d: d, input: input, output: output, scratch: scratch))
            }
        }
        Kernels.dispatch(depthwise.clamp, Depthwise(k: self, input: input, output: output, scratch: scratch))
    }
}

extension Kernels.ExpandDepthwisePointwiseKernel {
    /// input: [batch, inH, inW, inChannels] NHWC; output: [batch, outH, outW, outChannels].
    public func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        struct Args {
            let k: Kernels.ExpandDepthwisePointwiseKernel, input: UnsafePointer<Float>,
                output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        }
        struct Pointwise<E: Kernels.VectorClamp, D: Kernels.VectorClamp>: Kernels.ClampedCall {
            let a: Args, e: E, d: D
            func callAsFunction<P: Kernels.VectorClamp>(_ p: P) {
                a.k.run(
                    input: a.input, output: a.output, scratch: a.scratch, expandClamp: e, depthwiseClamp: d,
                    pointwiseClamp: p)
            }
        }
        struct Depthwise<E: Kernels.VectorClamp>: Kernels.ClampedCall {
            let a: Args, e: E
            func callAsFunction<D: Kernels.VectorClamp>(_ d: D) {
                Kernels.dispatch(a.k.inner.fullBand.clamp, Pointwise(a: a, e: e, d: d))
            }
        }
        struct Expand: Kernels.ClampedCall {
            let a: Args
            func callAsFunction<E: Kernels.VectorClamp>(_ e: E) {
                Kernels.dispatch(a.k.inner.depthwise.clamp, Depthwise(a: a, e: e))
            }
        }
        Kernels.dispatch(expandRow.clamp, Expand(a: Args(k: self, input: input, output: output, scratch: scratch)))
    }
}
