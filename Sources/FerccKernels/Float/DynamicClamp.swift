// fercc-kernel requires: Float/Conv2D.swift Float/DepthwiseConv2D.swift Float/DepthwisePointwise.swift
// fercc-kernel requires: Float/ExpandDepthwisePointwise.swift Float/ResidualAdd.swift

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
        Kernels.run(self, input: input, output: output, scratch: scratch, residual: nil)
    }
}

extension Kernels.ExpandDepthwisePointwiseKernel {
    /// input: [batch, inH, inW, inChannels] NHWC; output: [batch, outH, outW, outChannels].
    public func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        Kernels.run(self, input: input, output: output, scratch: scratch, residual: nil)
    }
}

// The fused kernels with a residual add (nil: none): written in the namespace, whose members
// public signatures can name unqualified.
extension Kernels {
    public static func run(
        _ kernel: DepthwisePointwiseKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, residual: ResidualAdd?
    ) {
        struct Args {
            let k: Kernels.DepthwisePointwiseKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>, residual: Kernels.ResidualAdd?
        }
        struct Pointwise<D: Kernels.VectorClamp>: Kernels.ClampedCall {
            let a: Args, d: D
            func callAsFunction<P: Kernels.VectorClamp>(_ p: P) {
                if let r = a.residual {
                    a.k.run(
                        input: a.input, output: a.output, scratch: a.scratch, depthwiseClamp: d, pointwiseClamp: p,
                        epilogue: r)
                } else {
                    a.k.run(
                        input: a.input, output: a.output, scratch: a.scratch, depthwiseClamp: d, pointwiseClamp: p,
                        epilogue: Kernels.NoEpilogue())
                }
            }
        }
        struct Depthwise: Kernels.ClampedCall {
            let a: Args
            func callAsFunction<D: Kernels.VectorClamp>(_ d: D) {
                Kernels.dispatch(a.k.fullBand.clamp, Pointwise(a: a, d: d))
            }
        }
        Kernels.dispatch(
            kernel.depthwise.clamp,
            Depthwise(a: Args(k: kernel, input: input, output: output, scratch: scratch, residual: residual)))
    }

    public static func run(
        _ kernel: ExpandDepthwisePointwiseKernel, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, residual: ResidualAdd?
    ) {
        struct Args {
            let k: Kernels.ExpandDepthwisePointwiseKernel, input: UnsafePointer<Float>,
                output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                residual: Kernels.ResidualAdd?
        }
        struct Pointwise<E: Kernels.VectorClamp, D: Kernels.VectorClamp>: Kernels.ClampedCall {
            let a: Args, e: E, d: D
            func callAsFunction<P: Kernels.VectorClamp>(_ p: P) {
                if let r = a.residual {
                    a.k.run(
                        input: a.input, output: a.output, scratch: a.scratch, expandClamp: e, depthwiseClamp: d,
                        pointwiseClamp: p, epilogue: r)
                } else {
                    a.k.run(
                        input: a.input, output: a.output, scratch: a.scratch, expandClamp: e, depthwiseClamp: d,
                        pointwiseClamp: p, epilogue: Kernels.NoEpilogue())
                }
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
        Kernels.dispatch(
            kernel.expand.clamp,
            Expand(a: Args(k: kernel, input: input, output: output, scratch: scratch, residual: residual)))
    }
}
