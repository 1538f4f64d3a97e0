// fercc-kernel requires: Common/Math.swift

extension Kernels {
    /// Fixed-point arithmetic of TFLite's integer kernels (quantization_util.cc, common.h and
    /// gemmlowp's fixedpoint.h), reproduced so that imported int8 models give the reference kernels'
    /// outputs bit for bit.
    public enum QuantizedMath {
        /// A real multiplier as a Q31 significand and a power-of-two exponent (frexp, round half away
        /// from zero, tiny multipliers flushed to zero).
        public static func quantizeMultiplier(_ m: Double) -> (multiplier: Int32, shift: Int) {
            if m == 0 { return (0, 0) }
            let e = m.exponent + 1  // frexp: m = q * 2^e with q in [0.5, 1)
            let q = m / Double(sign: .plus, exponent: e, significand: 1)
            var shift = e
            var fixed = Int64(KernelMath.round((q * Double(1 << 31)), .toNearestOrAwayFromZero))
            if fixed == 1 << 31 {
                fixed /= 2
                shift += 1
            }
            if shift < -31 {
                shift = 0
                fixed = 0
            }
            return (Int32(fixed), shift)
        }

        @inline(__always)
        public static func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
            if a == b && a == Int32.min { return Int32.max }
            let ab = Int64(a) * Int64(b)
            let nudge: Int64 = ab >= 0 ? 1 << 30 : 1 - (1 << 30)
            return Int32(truncatingIfNeeded: (ab + nudge) / (1 << 31))
        }

        @inline(__always)
        public static func roundingDivideByPOT(_ x: Int32, _ exponent: Int) -> Int32 {
            if exponent == 0 { return x }
            let mask = Int32((Int64(1) << exponent) - 1)
            let remainder = x & mask
            let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
            return (x >> Int32(exponent)) + (remainder > threshold ? 1 : 0)
        }

        /// x * multiplier * 2^shift, rounded as TFLite's MultiplyByQuantizedMultiplier (double rounding).
        @inline(__always)
        public static func multiplyByQuantizedMultiplier(_ x: Int32, _ multiplier: Int32, _ shift: Int) -> Int32 {
            let left = shift > 0 ? shift : 0
            let right = shift > 0 ? 0 : -shift
            return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x &* (1 << Int32(left)), multiplier), right)
        }

        /// fercc's float requantization (graphs it quantized itself; XNNPACK's way): x * scale in
        /// float32, clamped to +-2^16, rounded half to even. The clamp changes no result (the
        /// caller's zero point and int8 clamp saturate anything past int8 the same way) but keeps
        /// the conversion in range (`cvtps2dq` returns Int32.min past it). Float(x) rounds half to
        /// even above 2^24, as `cvtdq2ps` and `scvtf` do, so every kernel gets the same bits.
        /// The rounding adds and takes back 1.5 * 2^23: the sum's last bit is the units, so the
        /// addition rounds v half to even (exact for |v| < 2^22), with no libm call
        /// (`rounded(_:)` is `rintf` in unoptimized builds, which plain packages do not link).
        @inline(__always)
        public static func scaleInFloat(_ x: Int32, _ scale: Float) -> Int32 {
            let v = Swift.min(Swift.max(Float(x) * scale, -65536), 65536)
            return Int32(v + 12_582_912 - 12_582_912)
        }

        /// Saturating x * 2^exponent (exponent > 0) or rounding division (exponent < 0), as gemmlowp.
        @inline(__always)
        static func saturatingRoundingMultiplyByPOT(_ x: Int32, _ exponent: Int) -> Int32 {
            if exponent == 0 { return x }
            if exponent < 0 { return roundingDivideByPOT(x, -exponent) }
            let threshold = Int32((Int64(1) << (31 - exponent)) - 1)
            if x > threshold { return Int32.max }
            if x < -threshold { return Int32.min }
            return x &<< Int32(exponent)
        }

        /// The int8/uint8 clamp range of a fused activation, from the output's quantization.
        public static func activationRange(
            _ activation: (lower: Float, upper: Float), scale: Float, zeroPoint: Int32,
            qmin: Int32, qmax: Int32
        ) -> (Int32, Int32) {
            func quantize(_ f: Float) -> Int32 {
                let q = Double(KernelMath.round((f / scale), .toNearestOrAwayFromZero)) + Double(zeroPoint)
                return Int32(max(min(q, Double(Int32.max)), Double(Int32.min)))
            }
            let lo = activation.lower.isFinite ? max(qmin, quantize(activation.lower)) : qmin
            let hi = activation.upper.isFinite ? min(qmax, quantize(activation.upper)) : qmax
            return (lo, hi)
        }

        // MARK: gemmlowp fixed point, for the softmax

        /// exp(x) for x in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8.
        static func expOnIntervalNegQuarterToZero(_ a: Int32) -> Int32 {
            let constantTerm: Int32 = 1_895_147_668  // exp(-1/8)
            let oneThird: Int32 = 715_827_883
            let x = a &+ (1 << 28)
            let x2 = saturatingRoundingDoublingHighMul(x, x)
            let x3 = saturatingRoundingDoublingHighMul(x2, x)
            let x4 = saturatingRoundingDoublingHighMul(x2, x2)
            let x4Over4 = saturatingRoundingMultiplyByPOT(x4, -2)
            let inner = saturatingRoundingMultiplyByPOT(
                saturatingRoundingDoublingHighMul(x4Over4 &+ x3, oneThird) &+ x2, -1)
            return constantTerm &+ saturatingRoundingDoublingHighMul(constantTerm, x &+ inner)
        }

        /// exp(a) for a <= 0 given in Q5.26, result in Q0.31 (gemmlowp's exp_on_negative_values).
        public static func expOnNegativeValues(_ a: Int32) -> Int32 {
            let fractionalBits = 26
            let oneQuarter: Int32 = 1 << (fractionalBits - 2)
            let mask = oneQuarter - 1
            let aModQuarterMinusQuarter = (a & mask) &- oneQuarter
            var result = expOnIntervalNegQuarterToZero(saturatingRoundingMultiplyByPOT(aModQuarterMinusQuarter, 5))
            let remainder = aModQuarterMinusQuarter &- a
            // Barrel shifter: multiply by exp(-2^k) for each bit k of the remainder (no array, so no allocation).
            @inline(__always)
            func apply(_ exponent: Int, _ multiplier: Int32) {
                if remainder & (1 << Int32(fractionalBits + exponent)) != 0 {
                    result = saturatingRoundingDoublingHighMul(result, multiplier)
                }
            }
            apply(-2, 1_672_461_947)
            apply(-1, 1_302_514_674)
            apply(0, 790_015_084)
            apply(1, 290_630_308)
            apply(2, 39_332_535)
            apply(3, 720_401)
            apply(4, 242)
            return a == 0 ? Int32.max : result
        }

        /// 1 / (1 + x) for x in [0, 1), Q0.31 in and out, by Newton-Raphson (gemmlowp).
        static func oneOverOnePlusX(_ a: Int32) -> Int32 {
            // half_denominator = (a + 1) / 2 rounded, with One() = Int32.max in Q0.31.
            let sum = Int64(a) + Int64(Int32.max)
            let halfDenominator = Int32((sum + (sum >= 0 ? 1 : -1)) / 2)
            let c48Over17: Int32 = 1_515_870_810  // Q2.29
            let cNeg32Over17: Int32 = -1_010_580_540  // Q2.29
            var x = c48Over17 &+ saturatingRoundingDoublingHighMul(halfDenominator, cNeg32Over17)
            let oneQ2: Int32 = 1 << 29
            for _ in 0..<3 {
                let hdx = saturatingRoundingDoublingHighMul(halfDenominator, x)
                let oneMinus = oneQ2 &- hdx
                x = x &+ saturatingRoundingMultiplyByPOT(saturatingRoundingDoublingHighMul(x, oneMinus), 2)
            }
            return saturatingRoundingMultiplyByPOT(x, 1)
        }

        /// 1/x for x in Q12.19 as a Q0.31 scale and a count of bits over one (TFLite's GetReciprocal).
        static func reciprocal(_ x: Int32, integerDigits: Int) -> (Int32, Int) {
            let headroomPlusOne = UInt32(bitPattern: x).leadingZeroBitCount
            let bitsOverUnit = integerDigits - headroomPlusOne
            let shiftedSumMinusOne = Int32(bitPattern: (UInt32(bitPattern: x) << UInt32(headroomPlusOne)) &- (1 << 31))
            return (oneOverOnePlusX(shiftedSumMinusOne), bitsOverUnit)
        }
    }
}
