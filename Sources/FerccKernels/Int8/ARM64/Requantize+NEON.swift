// NEON requantization of the AArch64 int8 kernels, through the compiler's own clang intrinsics
// module (no package), compiled on AArch64 (NEON is part of its base instruction set: no flags).
// Same bits as the portable `multiplyByQuantizedMultiplier`.
// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedConvParameters.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// Per block of 16 output channels, 16 lanes each of bias, multiplier, left shift and minus
    /// the right shift (the form `srshl` takes), for `NEONRequant`; with float scaling, the float
    /// scales' bits in the multiplier lanes (`QuantizedConvParameters.table`).
    struct NEONRequantTable {
        let values: [Int32]
        /// Whether any channel's multiplier has a left shift (a scale of 1 or more: rare).
        let leftShift: Bool
        /// Whether every lane shifts right by at least 1 (a scale under 0.5: the usual case), so
        /// that the rounding fixup needs no mask.
        let rightOnly: Bool

        init(_ p: QuantizedConvParameters, bias: [Int32]) {
            var t = p.table(bias: bias)
            var left = false, right = true
            for b in 0..<p.blocks {
                for i in 0..<16 {
                    right = right && t[b * 64 + 48 + i] > 0
                    t[b * 64 + 48 + i] = -t[b * 64 + 48 + i]
                    left = left || t[b * 64 + 32 + i] != 0
                }
            }
            values = t
            leftShift = left
            rightOnly = right
        }
    }

    /// The 16 output channels of one pixel, as 4 accumulators of 4 lanes.
    struct NEONAccumulators {
        var a0: SIMD4<Int32>, a1: SIMD4<Int32>, a2: SIMD4<Int32>, a3: SIMD4<Int32>

        @inline(__always)
        init(_ a0: SIMD4<Int32>, _ a1: SIMD4<Int32>, _ a2: SIMD4<Int32>, _ a3: SIMD4<Int32>) {
            (self.a0, self.a1, self.a2, self.a3) = (a0, a1, a2, a3)
        }

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

    /// The accumulators of one step: 4 output pixels, or 1 (in `.0`) for an image's last pixels.
    typealias NEONPixels = (NEONAccumulators, NEONAccumulators, NEONAccumulators, NEONAccumulators)

    /// One block's requantization: TFLite's MultiplyByQuantizedMultiplier as its NEON code
    /// computes it (`sqrdmulh` is SaturatingRoundingDoublingHighMul bit for bit; RoundingDivideByPOT
    /// is a rounding shift, `srshl`, ties up, after subtracting 1 from negative values so that
    /// ties go away from zero: `h + ((h & s) >> 31)` with `s` minus the shift, an `and` and an
    /// `ssra`, exact without TFLite's saturating add: `sqrdmulh` never returns Int32.min),
    /// then saturating narrowings to int16, the zero point added there (saturating), a saturating
    /// narrowing to int8 and the activation clamp on bytes. Values beyond int16 stay beyond int8
    /// after the zero point, so the result is the int32 clamp's. The multipliers and shifts are
    /// loaded where they are used (2 `ldp` per 16 channels, shared by the pixels requantized
    /// together) unless the loop has registers for them (`scales`): kept in registers by every
    /// loop they took 8 of the 32 and pushed a 4-pixel step's values to the stack (MobileNetV2
    /// int8 on `arm64-dotprod`: 60.5 M instructions with them, 57.5 M without).
    struct NEONRequant {
        let t: UnsafePointer<Int32>
        let zp: SIMD8<Int16>, lo: SIMD16<Int8>, hi: SIMD16<Int8>
        let leftShift: Bool
        /// A full block of 16 channels that shifts only right (`NEONRequantTable.rightOnly`): no
        /// left shift, no mask in the fixup (`h + (h >> 31)`, one `ssra`), one 16-byte store.
        /// Loops are written twice through `withBlock`, so that it is a constant in each.
        let fast: Bool
        /// Whether the scaling is float (`QuantizedMath.scaleInFloat`; the multiplier lanes hold
        /// the scales): `scvtf`, `fmul`, `fcvtns` (round half to even, saturating, so no clamp
        /// is needed: the narrowings saturate the same way).
        let float: Bool

        @inline(__always)
        init(
            _ table: NEONRequantTable, _ base: UnsafePointer<Int32>, block b: Int, _ requant: Requantization,
            fast: Bool, float: Bool
        ) {
            t = base + b * 64
            zp = SIMD8<Int16>(repeating: Int16(truncatingIfNeeded: requant.outputZeroPoint))
            lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: requant.min))
            hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: requant.max))
            leftShift = !fast && table.leftShift
            self.fast = fast
            self.float = float
        }

        /// Calls `body` with block `b`'s requantization, `fast` when the block can be, the call
        /// written once per case so that `fast` and `float` are constants in each inlined copy of
        /// `body` (a `float` read at run time cost the fixed-point layers 2% more instructions).
        @inline(__always)
        static func withBlock(
            _ table: NEONRequantTable, _ base: UnsafePointer<Int32>, block b: Int, outC: Int, _ requant: Requantization,
            _ body: (NEONRequant) -> Void
        ) {
            if requant.floatScales != nil {
                body(NEONRequant(table, base, block: b, requant, fast: false, float: true))
            } else if table.rightOnly && !table.leftShift && outC - b * 16 >= 16 {
                body(NEONRequant(table, base, block: b, requant, fast: true, float: false))
            } else {
                body(NEONRequant(table, base, block: b, requant, fast: false, float: false))
            }
        }

        /// Group `j` (lanes 4j..<4j+4) of the block's table row at byte `row`.
        @inline(__always)
        func lanes(_ row: Int, _ j: Int) -> SIMD4<Int32> {
            UnsafeRawPointer(t).loadUnaligned(fromByteOffset: row &+ j &* 16, as: SIMD4<Int32>.self)
        }

        /// Channel group `j` of accumulators `x` (shifted left if the layer needs it), scaled to
        /// the output's units (int32).
        @inline(__always)
        func scaled(_ x: SIMD4<Int32>, _ j: Int) -> SIMD4<Int32> {
            scaled(x, lanes(64, j), lanes(192, j))
        }

        /// `scaled` with the group's multiplier `m` and minus its right shift `s` at hand.
        @inline(__always)
        static func scaled(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ s: SIMD4<Int32>) -> SIMD4<Int32> {
            let h = vqrdmulhq_s32(x, m)
            return vrshlq_s32(h &+ ((h & s) &>> 31), s)
        }

        /// `scaled` for lanes that all shift right by at least 1.
        @inline(__always)
        static func scaledRight(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ s: SIMD4<Int32>) -> SIMD4<Int32> {
            let h = vqrdmulhq_s32(x, m)
            return vrshlq_s32(h &+ (h &>> 31), s)
        }

        /// `scaled` in float: `m` holds the float scales' bits.
        @inline(__always)
        static func scaledFloat(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>) -> SIMD4<Int32> {
            vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(x), unsafeBitCast(m, to: SIMD4<Float>.self)))
        }

        @inline(__always)
        func scaled(_ x: SIMD4<Int32>, _ m: SIMD4<Int32>, _ s: SIMD4<Int32>) -> SIMD4<Int32> {
            float ? Self.scaledFloat(x, m) : (fast ? Self.scaledRight(x, m, s) : Self.scaled(x, m, s))
        }

        /// The block's multipliers and shifts, for loops that have registers to keep them in.
        struct Scales {
            let m0: SIMD4<Int32>, m1: SIMD4<Int32>, m2: SIMD4<Int32>, m3: SIMD4<Int32>
            let s0: SIMD4<Int32>, s1: SIMD4<Int32>, s2: SIMD4<Int32>, s3: SIMD4<Int32>
        }

        @inline(__always)
        var scales: Scales {
            Scales(
                m0: lanes(64, 0), m1: lanes(64, 1), m2: lanes(64, 2), m3: lanes(64, 3),
                s0: lanes(192, 0), s1: lanes(192, 1), s2: lanes(192, 2), s3: lanes(192, 3))
        }

        /// `store` with the block's constants in registers.
        @inline(__always)
        func store(_ a: NEONAccumulators, valid: Int, _ out: UnsafeMutablePointer<Int8>, _ k: Scales) {
            let a = leftShift ? shiftedLeft(a) : a
            narrowStore(
                NEONAccumulators(
                    scaled(a.a0, k.m0, k.s0), scaled(a.a1, k.m1, k.s1), scaled(a.a2, k.m2, k.s2),
                    scaled(a.a3, k.m3, k.s3)),
                valid: valid, out)
        }

        @inline(__always)
        func shiftedLeft(_ x: SIMD4<Int32>, _ j: Int) -> SIMD4<Int32> { vshlq_s32(x, lanes(128, j)) }

        @inline(__always)
        func shiftedLeft(_ a: NEONAccumulators) -> NEONAccumulators {
            NEONAccumulators(
                shiftedLeft(a.a0, 0), shiftedLeft(a.a1, 1), shiftedLeft(a.a2, 2), shiftedLeft(a.a3, 3))
        }

        @inline(__always)
        func scaled(_ a: NEONAccumulators) -> NEONAccumulators {
            NEONAccumulators(scaled(a.a0, 0), scaled(a.a1, 1), scaled(a.a2, 2), scaled(a.a3, 3))
        }

        /// Narrows one pixel's scaled accumulators to bytes and stores the output channels that
        /// exist (`valid` of the 16).
        @inline(__always)
        func narrowStore(_ a: NEONAccumulators, valid: Int, _ out: UnsafeMutablePointer<Int8>) {
            let h0 = vqmovn_high_s32(vqmovn_s32(a.a0), a.a1)
            let h1 = vqmovn_high_s32(vqmovn_s32(a.a2), a.a3)
            let bytes = vqmovn_high_s16(vqmovn_s16(vqaddq_s16(h0, zp)), vqaddq_s16(h1, zp))
            let clamped = vminq_s8(vmaxq_s8(bytes, lo), hi)
            if fast || valid >= 16 {
                UnsafeMutableRawPointer(out).storeBytes(of: clamped, as: SIMD16<Int8>.self)
            } else {
                for i in 0..<valid { out[i] = clamped[i] }
            }
        }

        /// Requantizes one pixel's 16 accumulators (bias included) and stores the output
        /// channels that exist (`valid` of the 16).
        @inline(__always)
        func store(_ a: NEONAccumulators, valid: Int, _ out: UnsafeMutablePointer<Int8>) {
            narrowStore(scaled(leftShift ? shiftedLeft(a) : a), valid: valid, out)
        }

        /// `store` for the 4 pixels of a step, `pixelStride` bytes apart: all scaled first, so
        /// that each group's constants are loaded once for the 4.
        @inline(__always)
        func store(_ a: NEONPixels, valid: Int, _ out: UnsafeMutablePointer<Int8>, pixelStride: Int) {
            var a = a
            if leftShift {
                a = (shiftedLeft(a.0), shiftedLeft(a.1), shiftedLeft(a.2), shiftedLeft(a.3))
            }
            let s0 = scaled(a.0), s1 = scaled(a.1), s2 = scaled(a.2), s3 = scaled(a.3)
            narrowStore(s0, valid: valid, out)
            narrowStore(s1, valid: valid, out + pixelStride)
            narrowStore(s2, valid: valid, out + 2 &* pixelStride)
            narrowStore(s3, valid: valid, out + 3 &* pixelStride)
        }
    }
}
#endif
