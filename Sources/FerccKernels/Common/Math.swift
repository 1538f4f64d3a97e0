extension Kernels {
    /// Elementary functions in the standard library only (the generated code may not import Glibc
    /// or Darwin). Computed in Double, so float results are correctly rounded or within one ulp.
    public enum KernelMath {
        /// `x.rounded(rule)` without libm: at -Onone, and at -O without SSE4.1 (the portable target),
        /// `rounded` becomes calls to round/rint/floor, which a swiftc link without Glibc does not resolve.
        /// Exact: |x| < 2^52 is split into its integer part (a conversion instruction) and an exact fraction.
        @inline(__always)
        public static func round(_ x: Double, _ rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) -> Double {
            guard x.magnitude < 4_503_599_627_370_496 else { return x }  // 2^52: already integral, or inf/nan
            let i = Int64(x)
            let t = Double(i), f = x - t
            switch rule {
            case .towardZero: return t
            case .down: return f < 0 ? t - 1 : t
            case .up: return f > 0 ? t + 1 : t
            case .awayFromZero: return f > 0 ? t + 1 : (f < 0 ? t - 1 : t)
            case .toNearestOrEven:
                if f > 0.5 || (f == 0.5 && i & 1 != 0) { return t + 1 }
                if f < -0.5 || (f == -0.5 && i & 1 != 0) { return t - 1 }
                return t
            default:  // .toNearestOrAwayFromZero
                return f >= 0.5 ? t + 1 : (f <= -0.5 ? t - 1 : t)
            }
        }

        /// `x.rounded(rule)` for Float without libm (exact through Double).
        @inline(__always)
        public static func round(_ x: Float, _ rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) -> Float {
            Float(round(Double(x), rule))
        }

        /// e^x. Range reduction x = k ln2 + r with |r| <= ln2/2, then a degree-13 Taylor polynomial
        /// (truncation error below 2^-60 on that interval), then scaling by 2^k through the exponent bits.
        @inline(__always)
        public static func exp(_ x: Double) -> Double {
            if x.isNaN { return x }
            if x > 709.78 { return .infinity }
            if x < -745.2 { return 0 }
            let ln2Hi = 6.93147180369123816490e-01
            let ln2Lo = 1.90821492927058770002e-10
            let k = round(x * 1.44269504088896338700)
            let r = (x - k * ln2Hi) - k * ln2Lo
            var p = 1.0 / 6227020800.0
            p = p * r + 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = p * r + 1.0
            p = p * r + 1.0
            let ki = Int(k)
            // 2^k in two steps keeps subnormal results and k = 1024 representable.
            let half = ki / 2
            return p * Double(sign: .plus, exponent: half, significand: 1)
                * Double(sign: .plus, exponent: ki - half, significand: 1)
        }

        @inline(__always)
        public static func sigmoid(_ x: Float) -> Float {
            let d = Double(x)
            if d >= 0 { return Float(1 / (1 + exp(-d))) }
            let e = exp(d)
            return Float(e / (1 + e))
        }

        @inline(__always)
        public static func tanh(_ x: Float) -> Float {
            let d = Double(x)
            let a = Swift.abs(d)
            if a < 1e-4 { return x }  // tanh(x) = x - x^3/3: the cubic term is below float precision
            if a > 20 { return d > 0 ? 1 : -1 }
            let e = exp(2 * a)
            let t = (e - 1) / (e + 1)
            return Float(d < 0 ? -t : t)
        }

    }
}
