// NEON path of the int8 ADD/SUB on AArch64, through the compiler's own clang intrinsics module
// (no package; NEON is part of AArch64's base instruction set). Same bits as `apply`.
// fercc-kernel requires: Int8/QuantizedMath.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// TFLite's int8 ADD on the multiples of 16 elements (returns how many it did): each input
    /// offset in int16, widened to int32 and shifted left by `leftShift`, scaled by its multiplier
    /// (`sqrdmulh`, then the rounding right shift with TFLite's fixup for negative ties), summed,
    /// scaled by the output multiplier the same way, narrowed with saturation to int16 where the
    /// zero point is added, then to int8 and clamped. Right shifts only (the caller checks).
    static func binaryAddNEON(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        offset1: Int32, offset2: Int32, leftShift: Int32, m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32,
        sOut: Int,
        zeroPoint: Int32, min: Int32, max: Int32
    ) -> Int {
        let o1 = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: offset1))
        let o2 = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: offset2))
        let left = SIMD4<Int32>(repeating: leftShift)
        let mv1 = SIMD4<Int32>(repeating: m1), mv2 = SIMD4<Int32>(repeating: m2), mvo = SIMD4<Int32>(repeating: mOut)
        // Negative amounts: `srshl` shifts right by them.
        let r1 = SIMD4<Int32>(repeating: Int32(s1)), r2 = SIMD4<Int32>(repeating: Int32(s2))
        let ro = SIMD4<Int32>(repeating: Int32(sOut))
        let zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: zeroPoint))
        let lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: min))
        let hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: max))
        @inline(__always) func scale(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ r: SIMD4<Int32>) -> SIMD4<Int32> {
            let h = vqrdmulhq_s32(x, m)
            return vrshlq_s32(vqaddq_s32(h, (h & r) &>> 31), r)
        }
        @inline(__always) func sum(_ x: SIMD4<Int16>, _ z: SIMD4<Int16>) -> SIMD4<Int32> {
            let sx = scale(vshlq_s32(vmovl_s16(x), left), mv1, r1)
            let sz = scale(vshlq_s32(vmovl_s16(z), left), mv2, r2)
            return scale(sx &+ sz, mvo, ro)
        }
        @inline(__always) func eight(_ x: SIMD8<Int16>, _ z: SIMD8<Int16>) -> SIMD8<Int16> {
            let low = sum(vget_low_s16(x), vget_low_s16(z))
            let high = sum(vget_high_s16(x), vget_high_s16(z))
            return vqaddq_s16(vqmovn_high_s32(vqmovn_s32(low), high), zp)
        }
        var i = 0
        while i + 16 <= count {
            let xa = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Int8>.self)
            let xb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Int8>.self)
            let low = eight(vmovl_s8(vget_low_s8(xa)) &+ o1, vmovl_s8(vget_low_s8(xb)) &+ o2)
            let high = eight(vmovl_high_s8(xa) &+ o1, vmovl_high_s8(xb) &+ o2)
            let bytes = vqmovn_high_s16(vqmovn_s16(low), high)
            UnsafeMutableRawPointer(y + i).storeBytes(of: vminq_s8(vmaxq_s8(bytes, lo), hi), as: SIMD16<Int8>.self)
            i += 16
        }
        return i
    }
}
#endif
