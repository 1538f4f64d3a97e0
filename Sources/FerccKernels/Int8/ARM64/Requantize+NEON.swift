// NEON requantization of the AArch64 int8 kernels, through the compiler's own clang intrinsics
// module (no package), compiled on AArch64 (NEON is part of its base instruction set: no flags).
// Same bits as the portable `multiplyByQuantizedMultiplier`.
// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedConvParameters.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// Per block of 16 output channels, 16 lanes each of bias, multiplier, left shift and minus
    /// the right shift (the form `srshl` takes), for `requantizeNEON`.
    struct NEONRequantTable {
        let values: [Int32]

        init(_ p: QuantizedConvParameters, bias: [Int32]) {
            var t = p.table(bias: bias)
            for b in 0..<p.blocks {
                for i in 0..<16 { t[b * 64 + 48 + i] = -t[b * 64 + 48 + i] }
            }
            values = t
        }
    }

    /// TFLite's MultiplyByQuantizedMultiplier on 4 lanes as its NEON code computes it: `sqrdmulh`
    /// is SaturatingRoundingDoublingHighMul bit for bit, and RoundingDivideByPOT is a rounding
    /// shift (`srshl`, ties up) after subtracting 1 from negative values (ties then go away from
    /// zero); then the zero point and the clamp. `t` points at the lanes' bias in a
    /// `NEONRequantTable` block.
    @inline(__always)
    static func requantizeNEON(
        _ acc: SIMD4<Int32>, _ t: UnsafePointer<Int32>, zeroPoint: SIMD4<Int32>, lo: SIMD4<Int32>, hi: SIMD4<Int32>
    ) -> SIMD4<Int32> {
        let r = UnsafeRawPointer(t)
        let x = acc &+ r.loadUnaligned(as: SIMD4<Int32>.self)
        let h = vqrdmulhq_s32(
            vshlq_s32(x, r.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int32>.self)),
            r.loadUnaligned(fromByteOffset: 64, as: SIMD4<Int32>.self))
        let shift = r.loadUnaligned(fromByteOffset: 192, as: SIMD4<Int32>.self)
        let rounded = vrshlq_s32(vqaddq_s32(h, (h & shift) &>> 31), shift)
        return (rounded &+ zeroPoint).clamped(lowerBound: lo, upperBound: hi)
    }

    /// Requantizes 16 accumulators (output channels 16b...16b+15 of one pixel) and stores the
    /// channels that exist.
    @inline(__always)
    static func requantizeStoreNEON(
        _ a0: SIMD4<Int32>, _ a1: SIMD4<Int32>, _ a2: SIMD4<Int32>, _ a3: SIMD4<Int32>, block b: Int,
        _ table: UnsafePointer<Int32>, _ requant: Requantization, channels: Int, _ out: UnsafeMutablePointer<Int8>
    ) {
        let t = table + b * 64
        let zp = SIMD4<Int32>(repeating: requant.outputZeroPoint)
        let lo = SIMD4<Int32>(repeating: requant.min), hi = SIMD4<Int32>(repeating: requant.max)
        let q0 = requantizeNEON(a0, t, zeroPoint: zp, lo: lo, hi: hi)
        let q1 = requantizeNEON(a1, t + 4, zeroPoint: zp, lo: lo, hi: hi)
        let q2 = requantizeNEON(a2, t + 8, zeroPoint: zp, lo: lo, hi: hi)
        let q3 = requantizeNEON(a3, t + 12, zeroPoint: zp, lo: lo, hi: hi)
        let bytes = vcombine_s8(
            vmovn_s16(vcombine_s16(vmovn_s32(q0), vmovn_s32(q1))), vmovn_s16(vcombine_s16(vmovn_s32(q2), vmovn_s32(q3)))
        )
        let o = b * 16
        let valid = Swift.min(channels - o, 16)
        if valid == 16 {
            UnsafeMutableRawPointer(out + o).storeBytes(of: bytes, as: SIMD16<Int8>.self)
        } else {
            for i in 0..<valid { out[o + i] = bytes[i] }
        }
    }
}
#endif
