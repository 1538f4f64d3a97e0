// NEON requantization of the AArch64 int8 kernels, through the compiler's own clang intrinsics
// module (no package), compiled on AArch64 (NEON is part of its base instruction set: no flags).
// Same bits as the portable `multiplyByQuantizedMultiplier`.
// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedConvParameters.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// Per block of 16 output channels, 16 lanes each of bias, multiplier, left shift and minus
    /// the right shift (the form `srshl` takes), for `NEONRequant`.
    struct NEONRequantTable {
        let values: [Int32]
        /// Whether any channel's multiplier has a left shift (a scale of 1 or more: rare).
        let leftShift: Bool

        init(_ p: QuantizedConvParameters, bias: [Int32]) {
            var t = p.table(bias: bias)
            var left = false
            for b in 0..<p.blocks {
                for i in 0..<16 {
                    t[b * 64 + 48 + i] = -t[b * 64 + 48 + i]
                    left = left || t[b * 64 + 32 + i] != 0
                }
            }
            values = t
            leftShift = left
        }
    }

    /// The 16 output channels of one pixel, as 4 accumulators of 4 lanes.
    struct NEONAccumulators {
        var a0: SIMD4<Int32>, a1: SIMD4<Int32>, a2: SIMD4<Int32>, a3: SIMD4<Int32>

        /// A block's biases (the table's first 16 lanes): the accumulators start from them, so
        /// requantization has no add (int32 sums wrap the same either way).
        @inline(__always)
        init(bias t: UnsafePointer<Int32>) {
            let r = UnsafeRawPointer(t)
            a0 = r.loadUnaligned(as: SIMD4<Int32>.self)
            a1 = r.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
            a2 = r.loadUnaligned(fromByteOffset: 32, as: SIMD4<Int32>.self)
            a3 = r.loadUnaligned(fromByteOffset: 48, as: SIMD4<Int32>.self)
        }
    }

    /// One block's requantization, its constants loaded once for the pixels that share them:
    /// TFLite's MultiplyByQuantizedMultiplier as its NEON code computes it (`sqrdmulh` is
    /// SaturatingRoundingDoublingHighMul bit for bit; RoundingDivideByPOT is a rounding shift,
    /// `srshl`, ties up, after subtracting 1 from negative values so that ties go away from
    /// zero), then saturating narrowings to int16, the zero point added there (saturating), a
    /// saturating narrowing to int8 and the activation clamp on bytes. Values beyond int16 stay
    /// beyond int8 after the zero point, so the result is the int32 clamp's.
    struct NEONRequant {
        let t: UnsafePointer<Int32>
        let m0: SIMD4<Int32>, m1: SIMD4<Int32>, m2: SIMD4<Int32>, m3: SIMD4<Int32>
        let s0: SIMD4<Int32>, s1: SIMD4<Int32>, s2: SIMD4<Int32>, s3: SIMD4<Int32>
        let zp: SIMD8<Int16>, lo: SIMD16<Int8>, hi: SIMD16<Int8>
        let leftShift: Bool

        @inline(__always)
        init(_ table: UnsafePointer<Int32>, block b: Int, _ requant: Requantization, leftShift: Bool) {
            t = table + b * 64
            let r = UnsafeRawPointer(t)
            m0 = r.loadUnaligned(fromByteOffset: 64, as: SIMD4<Int32>.self)
            m1 = r.loadUnaligned(fromByteOffset: 80, as: SIMD4<Int32>.self)
            m2 = r.loadUnaligned(fromByteOffset: 96, as: SIMD4<Int32>.self)
            m3 = r.loadUnaligned(fromByteOffset: 112, as: SIMD4<Int32>.self)
            s0 = r.loadUnaligned(fromByteOffset: 192, as: SIMD4<Int32>.self)
            s1 = r.loadUnaligned(fromByteOffset: 208, as: SIMD4<Int32>.self)
            s2 = r.loadUnaligned(fromByteOffset: 224, as: SIMD4<Int32>.self)
            s3 = r.loadUnaligned(fromByteOffset: 240, as: SIMD4<Int32>.self)
            zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: requant.outputZeroPoint))
            lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: requant.min))
            hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: requant.max))
            self.leftShift = leftShift
        }

        @inline(__always)
        func scaled(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ s: SIMD4<Int32>) -> SIMD4<Int32> {
            let h = vqrdmulhq_s32(x, m)
            return vrshlq_s32(vqaddq_s32(h, (h & s) &>> 31), s)
        }

        /// Requantizes one pixel's 16 accumulators (bias included) and stores the output
        /// channels that exist (`valid` of the 16).
        @inline(__always)
        func store(_ a: NEONAccumulators, valid: Int, _ out: UnsafeMutablePointer<Int8>) {
            var a = a
            if leftShift {
                let r = UnsafeRawPointer(t)
                a.a0 = vshlq_s32(a.a0, r.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int32>.self))
                a.a1 = vshlq_s32(a.a1, r.loadUnaligned(fromByteOffset: 144, as: SIMD4<Int32>.self))
                a.a2 = vshlq_s32(a.a2, r.loadUnaligned(fromByteOffset: 160, as: SIMD4<Int32>.self))
                a.a3 = vshlq_s32(a.a3, r.loadUnaligned(fromByteOffset: 176, as: SIMD4<Int32>.self))
            }
            let h0 = vqmovn_high_s32(vqmovn_s32(scaled(a.a0, m0, s0)), scaled(a.a1, m1, s1))
            let h1 = vqmovn_high_s32(vqmovn_s32(scaled(a.a2, m2, s2)), scaled(a.a3, m3, s3))
            let bytes = vqmovn_high_s16(vqmovn_s16(vqaddq_s16(h0, zp)), vqaddq_s16(h1, zp))
            let clamped = vminq_s8(vmaxq_s8(bytes, lo), hi)
            if valid >= 16 {
                UnsafeMutableRawPointer(out).storeBytes(of: clamped, as: SIMD16<Int8>.self)
            } else {
                for i in 0..<valid { out[i] = clamped[i] }
            }
        }
    }
}
#endif
