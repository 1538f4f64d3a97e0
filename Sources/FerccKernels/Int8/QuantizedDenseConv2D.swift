// fercc-kernel requires: Int8/QuantizedConvParameters.swift Int8/QuantizedDenseConv.swift
// fercc-kernel requires(avx2): Int8/AVX2/DenseConv+AVX2.swift Int8/AVX2/WinogradConv+AVX2.swift
// fercc-kernel requires(avx512): Int8/AVX512/DenseConv+VNNI.swift
// fercc-kernel requires(dotprod): Int8/ARM64/DenseConv+DotProd.swift
// fercc-kernel requires(neon): Int8/ARM64/DenseConv+NEON.swift

extension Kernels {
    /// An int8 regular convolution (one group) over NHWC, with TFLite's reference arithmetic. The
    /// variant is the best the build's instruction sets allow: AVX-512 VNNI, else AVX2 (x86-64; 3x3
    /// stride-1 layers of 32 channels or more by integer Winograd, `QuantizedWinogradAVX2`),
    /// the dot product (AArch64 with FERCC_DOTPROD), NEON's widening multiply-adds (other AArch64), else portable (the exact fp32 detour when no partial sum can reach 2^24). All give the
    /// reference loop's bits (kernel tests compare them).
    public struct QuantizedDenseConv2DKernel {
        enum Variant {
            case portable(QuantizedDenseConv)
            case exact(QuantizedDenseConvExact)
            #if arch(x86_64) && FERCC_AVX2
            case avx2(QuantizedDenseConvAVX2)
            case winogradAVX2(QuantizedWinogradAVX2)
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case vnni(QuantizedDenseConvVNNI)
            #endif
            #if arch(arm64) && FERCC_DOTPROD
            case dotprod(QuantizedDenseConvDotProd)
            #endif
            #if arch(arm64) && !FERCC_DOTPROD
            case neon(QuantizedDenseConvNEON)
            #endif
        }
        let variant: Variant
        public let geometry: Conv2DGeometry
        let inputZeroPoint: Int32

        @inline(never)  // generated code builds dozens of these in one initializer
        public init(_ p: QuantizedConvParameters) {
            precondition(p.geometry.groups == 1, "a dense convolution has one group")
            geometry = p.geometry
            inputZeroPoint = p.inputZeroPoint
            #if arch(x86_64) && FERCC_AVX512
            variant = .vnni(QuantizedDenseConvVNNI(p))
            #elseif arch(x86_64) && FERCC_AVX2
            variant =
                QuantizedWinogradAVX2.applies(p)
                ? .winogradAVX2(QuantizedWinogradAVX2(p)) : .avx2(QuantizedDenseConvAVX2(p))
            #elseif arch(arm64) && FERCC_DOTPROD
            variant = .dotprod(QuantizedDenseConvDotProd(p))
            #elseif arch(arm64)
            variant = .neon(QuantizedDenseConvNEON(p))
            #else
            variant =
                QuantizedDenseConvExact.applies(p)
                ? .exact(QuantizedDenseConvExact(p)) : .portable(QuantizedDenseConv(p))
            #endif
        }

        /// Bytes of scratch `run` needs (the zero-point-padded input copy).
        public var scratchBytes: Int {
            switch variant {
            case .portable(let k): return k.scratchBytes
            case .exact(let k): return k.scratchBytes
            #if arch(x86_64) && FERCC_AVX2
            case .avx2(let k): return k.scratchBytes
            case .winogradAVX2(let k): return k.scratchBytes
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case .vnni(let k): return k.scratchBytes
            #endif
            #if arch(arm64) && FERCC_DOTPROD
            case .dotprod(let k): return k.scratchBytes
            #endif
            #if arch(arm64) && !FERCC_DOTPROD
            case .neon(let k): return k.scratchBytes
            #endif
            }
        }

        /// Convolves `input` into `output`; `scratch` holds at least `scratchBytes` bytes.
        public func run(
            input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?
        ) {
            switch variant {
            case .portable(let k): k.run(input: input, output: output, scratch: scratch)
            case .exact(let k): k.run(input: input, output: output, scratch: scratch!)
            #if arch(x86_64) && FERCC_AVX2
            case .avx2(let k): k.run(input: input, output: output, scratch: scratch!)
            case .winogradAVX2(let k): k.run(input: input, output: output, scratch: scratch!)
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case .vnni(let k): k.run(input: input, output: output, scratch: scratch!)
            #endif
            #if arch(arm64) && FERCC_DOTPROD
            case .dotprod(let k): k.run(input: input, output: output, scratch: scratch)
            #endif
            #if arch(arm64) && !FERCC_DOTPROD
            case .neon(let k): k.run(input: input, output: output, scratch: scratch)
            #endif
            }
        }
    }
}
