// The fp32 vectors' clamps on x86-64 with AVX2: one `vmaxps` / `vminps` per bound and register
// (the compare-and-select form compiled to compares and 128-bit blends, about 8 instructions).
// fercc-kernel requires: Common/SIMD.swift

#if arch(x86_64) && FERCC_AVX2
import _Builtin_intrinsics.intel

extension Kernels {
    // `vmaxps a, b` is `a > b ? a : b`, `vminps a, b` is `a < b ? a : b`: NaN (or equality) gives
    // `b`, so each gives exactly the compare-and-select form's lanes.

    /// ReLU: `v > 0 ? v : 0` turns NaN and -0 into +0, as `Activation.relu`.
    @inline(__always) static func reluAVX2(_ v: SIMD8<Float>) -> SIMD8<Float> { _mm256_max_ps(v, _mm256_setzero_ps()) }

    /// min(max(v, low), high) with the bounds first: NaN stays NaN.
    @inline(__always) static func clipAVX2(_ v: SIMD8<Float>, _ low: SIMD8<Float>, _ high: SIMD8<Float>)
        -> SIMD8<Float>
    {
        _mm256_min_ps(high, _mm256_max_ps(low, v))
    }

    @inline(__always) static func clipAVX2(_ v: SIMD8<Float>, _ low: Float, _ high: Float) -> SIMD8<Float> {
        clipAVX2(v, SIMD8(repeating: low), SIMD8(repeating: high))
    }

    /// `a > b ? a : b`: one `vmaxps` per register.
    @inline(__always) static func maximumAVX2(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        _mm256_max_ps(a, b)
    }

    @inline(__always) static func maximumAVX2(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(lowHalf: _mm256_max_ps(a.lowHalf, b.lowHalf), highHalf: _mm256_max_ps(a.highHalf, b.highHalf))
    }

    @inline(__always) static func reluAVX2(_ v: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(lowHalf: reluAVX2(v.lowHalf), highHalf: reluAVX2(v.highHalf))
    }

    @inline(__always) static func clipAVX2(_ v: SIMD16<Float>, _ low: Float, _ high: Float) -> SIMD16<Float> {
        let l = SIMD8(repeating: low), h = SIMD8(repeating: high)
        return SIMD16(lowHalf: clipAVX2(v.lowHalf, l, h), highHalf: clipAVX2(v.highHalf, l, h))
    }
}
#endif
