// The fp32 vectors' clamps on AArch64, one NEON instruction per bound and register.
// fercc-kernel requires: Common/SIMD.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// ReLU as `fmaxnm` with 0: NaN becomes 0 and -0 becomes +0, as the compare-and-select form
    /// (2 instructions per register).
    @inline(__always) static func reluNEON(_ v: SIMD4<Float>) -> SIMD4<Float> { vmaxnmq_f32(v, SIMD4(repeating: 0)) }

    /// min(max(v, low), high) as `fmax` and `fmin`, which keep NaN, like the compare-and-select
    /// form (6 instructions per register); they differ only in the sign of a zero (max(-0, +0)
    /// is +0 here, -0 there), which compares equal.
    @inline(__always) static func clipNEON(_ v: SIMD4<Float>, _ low: SIMD4<Float>, _ high: SIMD4<Float>)
        -> SIMD4<Float>
    {
        vminq_f32(vmaxq_f32(v, low), high)
    }

    @inline(__always) static func reluNEON(_ v: SIMD8<Float>) -> SIMD8<Float> {
        SIMD8(lowHalf: reluNEON(v.lowHalf), highHalf: reluNEON(v.highHalf))
    }

    @inline(__always) static func clipNEON(_ v: SIMD8<Float>, _ low: Float, _ high: Float) -> SIMD8<Float> {
        let l = SIMD4(repeating: low), h = SIMD4(repeating: high)
        return SIMD8(lowHalf: clipNEON(v.lowHalf, l, h), highHalf: clipNEON(v.highHalf, l, h))
    }

    @inline(__always) static func reluNEON(_ v: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(lowHalf: reluNEON(v.lowHalf), highHalf: reluNEON(v.highHalf))
    }

    @inline(__always) static func clipNEON(_ v: SIMD16<Float>, _ low: Float, _ high: Float) -> SIMD16<Float> {
        SIMD16(lowHalf: clipNEON(v.lowHalf, low, high), highHalf: clipNEON(v.highHalf, low, high))
    }
}
#endif
