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

    // 16 lanes: one 512-bit instruction with AVX-512 (the two 256-bit halves cost an extract, an
    // insert and a second max per register: a third of the fused residual add's time in BlazeFace),
    // the same lanes as the halves'.
    #if FERCC_AVX512
    @inline(__always) static func maximumAVX2(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        _mm512_max_ps(a, b)
    }

    @inline(__always) static func reluAVX2(_ v: SIMD16<Float>) -> SIMD16<Float> {
        _mm512_max_ps(v, _mm512_setzero_ps())
    }

    @inline(__always) static func clipAVX2(_ v: SIMD16<Float>, _ low: Float, _ high: Float) -> SIMD16<Float> {
        _mm512_min_ps(_mm512_set1_ps(high), _mm512_max_ps(_mm512_set1_ps(low), v))
    }
    #else
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
    #endif

    #if FERCC_AVX512
    /// The first `count` (0 ..< lanes) floats at `p`, zeros above, by one masked load (AVX-512 F /
    /// VL): nothing past them is read. `S` is SIMD8<Float> or SIMD16<Float>.
    @inline(__always) static func loadPrefixAVX512<S: SIMD>(_ p: UnsafePointer<Float>, _ count: Int, as _: S.Type)
        -> S where S.Scalar == Float
    {
        if S.scalarCount == 16 {
            return unsafeBitCast(_mm512_maskz_loadu_ps(__mmask16(truncatingIfNeeded: (1 << count) - 1), p), to: S.self)
        }
        return unsafeBitCast(_mm256_maskz_loadu_ps(__mmask8(truncatingIfNeeded: (1 << count) - 1), p), to: S.self)
    }

    /// The first `count` (0 ..< lanes) lanes of `v` to `p` by one masked store.
    @inline(__always) static func storePrefixAVX512<S: SIMD>(_ p: UnsafeMutablePointer<Float>, _ count: Int, _ v: S)
    where S.Scalar == Float {
        if S.scalarCount == 16 {
            _mm512_mask_storeu_ps(p, __mmask16(truncatingIfNeeded: (1 << count) - 1), unsafeBitCast(v, to: __m512.self))
        } else {
            _mm256_mask_storeu_ps(p, __mmask8(truncatingIfNeeded: (1 << count) - 1), unsafeBitCast(v, to: __m256.self))
        }
    }
    #endif
}
#endif
