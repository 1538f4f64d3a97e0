// NEON path of float-to-int8 quantization on AArch64 (the generated code's input quantization).
// Same bits as the portable loop: x / scale in float32 (a vector divide, not a multiply by the
// reciprocal), rounded by the conversion itself, which also saturates and maps NaN to 0.
// fercc-kernel requires: Int8/QuantizedMath.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// Quantizes the multiples of 16 elements of `x` and returns how many it did: `fcvtas`
    /// rounds half away from zero (TFLite's QUANTIZE), `fcvtns` half to even (numpy); the zero
    /// point is a saturating add and the two saturating narrowings clamp to [-128, 127], as the
    /// portable loop's clamps do.
    static func quantizeNEON(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32,
        halfToEven: Bool
    ) -> Int {
        let s = SIMD4<Float>(repeating: scale), zp = SIMD4<Int32>(repeating: zeroPoint)
        let xr = UnsafeRawPointer(x)
        @inline(__always) func convert(_ i: Int) -> SIMD4<Int32> {
            let q = xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self) / s
            return vqaddq_s32(halfToEven ? vcvtnq_s32_f32(q) : vcvtaq_s32_f32(q), zp)
        }
        var i = 0
        while i + 16 <= count {
            let lo = vqmovn_high_s32(vqmovn_s32(convert(i)), convert(i + 4))
            let hi = vqmovn_high_s32(vqmovn_s32(convert(i + 8)), convert(i + 12))
            UnsafeMutableRawPointer(y + i).storeBytes(
                of: vqmovn_high_s16(vqmovn_s16(lo), hi), as: SIMD16<Int8>.self)
            i += 16
        }
        return i
    }
}
#endif
