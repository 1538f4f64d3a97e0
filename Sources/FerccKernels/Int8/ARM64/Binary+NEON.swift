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
    /// zero point is added, then to int8 and clamped. Right shifts only, and a left shift of 16
    /// to 23 (TFLite's is 20; the caller checks).
    static func binaryAddNEON(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        offset1: Int32, offset2: Int32, leftShift: Int32, m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32,
        sOut: Int,
        zeroPoint: Int32, min: Int32, max: Int32
    ) -> Int {
        let o1 = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: offset1))
        let o2 = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: offset2))
        let pre = SIMD8<Int16>(repeating: Int16(leftShift - 16))
        let mv1 = SIMD4<Int32>(repeating: m1), mv2 = SIMD4<Int32>(repeating: m2), mvo = SIMD4<Int32>(repeating: mOut)
        // Negative amounts: `srshl` shifts right by them.
        let r1 = SIMD4<Int32>(repeating: Int32(s1)), r2 = SIMD4<Int32>(repeating: Int32(s2))
        let ro = SIMD4<Int32>(repeating: Int32(sOut))
        let zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: zeroPoint))
        let lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: min))
        let hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: max))
        // Each scaling shifts right by 0 (the larger input scale's multiplier often: then it is
        // `sqrdmulh` alone) or by at least 1 (then the fixup needs no mask); the loop is written
        // once per case, so that these are constants in each copy, and once for any shifts.
        @inline(__always) func loop(_ zero1: Bool, _ zero2: Bool, masked: Bool) -> Int {
            @inline(__always) func scale(
                _ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ r: SIMD4<Int32>, zero: Bool = false
            ) -> SIMD4<Int32> {
                let h = vqrdmulhq_s32(x, m)
                if zero && !masked { return h }
                // sqrdmulh never returns Int32.min: the unsaturated add is exact.
                return vrshlq_s32(h &+ ((masked ? h & r : h) &>> 31), r)
            }
            @inline(__always) func sum(_ x: SIMD4<Int32>, _ z: SIMD4<Int32>) -> SIMD4<Int32> {
                scale(scale(x, mv1, r1, zero: zero1) &+ scale(z, mv2, r2, zero: zero2), mvo, ro)
            }
            // x << leftShift as int32: x << (leftShift - 16) in int16 (|x| <= 255 fits), then
            // interleaved with zeros as the low halves (`zip1`, `zip2`).
            @inline(__always) func widened(_ x: SIMD8<Int16>) -> (SIMD4<Int32>, SIMD4<Int32>) {
                let shifted = x &<< pre
                return (
                    unsafeBitCast(vzip1q_s16(.zero, shifted), to: SIMD4<Int32>.self),
                    unsafeBitCast(vzip2q_s16(.zero, shifted), to: SIMD4<Int32>.self)
                )
            }
            @inline(__always) func eight(_ x: SIMD8<Int16>, _ z: SIMD8<Int16>) -> SIMD8<Int16> {
                let (xl, xh) = widened(x), (zl, zh) = widened(z)
                return vqaddq_s16(vqmovn_high_s32(vqmovn_s32(sum(xl, zl)), sum(xh, zh)), zp)
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
        guard sOut < 0 else { return loop(false, false, masked: true) }
        switch (s1 == 0, s2 == 0) {
        case (false, false): return loop(false, false, masked: false)
        case (true, false): return loop(true, false, masked: false)
        case (false, true): return loop(false, true, masked: false)
        case (true, true): return loop(true, true, masked: false)
        }
    }
}
#endif
