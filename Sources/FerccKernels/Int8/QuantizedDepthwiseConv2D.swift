// fercc-kernel requires: Int8/QuantizedConvParameters.swift Int8/QuantizedDepthwiseConv.swift
// fercc-kernel requires(avx2): Int8/AVX2/DepthwiseConv+AVX2.swift
// fercc-kernel requires(avx512): Int8/AVX512/DepthwiseConv+AVX512.swift
// fercc-kernel requires(neon): Int8/ARM64/DepthwiseConv+NEON.swift

extension Kernels {
    /// An int8 depthwise convolution (one input and one output channel per group) over NHWC,
    /// with TFLite's reference arithmetic: AVX-512 above 16 channels on VNNI builds (8- and
    /// 16-channel layers keep the 16-channel AVX2 kernel, whose AVX-512 rows, `WideRows`, waste
    /// no lanes on them), else AVX2; NEON on AArch64; else portable.
    public struct QuantizedDepthwiseConv2DKernel {
        enum Variant {
            case portable(QuantizedDepthwiseConv)
            #if arch(x86_64) && FERCC_AVX2
            case avx2(QuantizedDepthwiseConvAVX2)
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case avx512(QuantizedDepthwiseConvAVX512)
            #endif
            #if arch(arm64)
            case neon(QuantizedDepthwiseConvNEON)
            #endif
        }
        let variant: Variant
        public let geometry: Conv2DGeometry

        @inline(never)
        public init(_ p: QuantizedConvParameters) {
            precondition(p.geometry.isDepthwise, "a depthwise convolution has one channel per group")
            geometry = p.geometry
            #if arch(x86_64) && FERCC_AVX512
            variant =
                p.geometry.outC > 16 ? .avx512(QuantizedDepthwiseConvAVX512(p)) : .avx2(QuantizedDepthwiseConvAVX2(p))
            #elseif arch(x86_64) && FERCC_AVX2
            variant = .avx2(QuantizedDepthwiseConvAVX2(p))
            #elseif arch(arm64)
            variant = .neon(QuantizedDepthwiseConvNEON(p))
            #else
            variant = .portable(QuantizedDepthwiseConv(p))
            #endif
        }

        public var scratchBytes: Int {
            switch variant {
            case .portable(let k): return k.scratchBytes
            #if arch(x86_64) && FERCC_AVX2
            case .avx2(let k): return k.scratchBytes
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case .avx512(let k): return k.scratchBytes
            #endif
            #if arch(arm64)
            case .neon(let k): return k.scratchBytes
            #endif
            }
        }

        public func run(
            input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?
        ) {
            switch variant {
            case .portable(let k): k.run(input: input, output: output, scratch: scratch)
            #if arch(x86_64) && FERCC_AVX2
            case .avx2(let k): k.run(input: input, output: output, scratch: scratch)
            #endif
            #if arch(x86_64) && FERCC_AVX512
            case .avx512(let k): k.run(input: input, output: output, scratch: scratch)
            #endif
            #if arch(arm64)
            case .neon(let k): k.run(input: input, output: output, scratch: scratch)
            #endif
            }
        }
    }
}
