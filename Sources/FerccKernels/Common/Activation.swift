// fercc-kernel requires: Common/Math.swift

extension Kernels {
    /// Activation functions, in place or from `x` to `y` (which may alias).
    public enum Activation: Equatable, Sendable {
        case identity
        case relu
        case clip(min: Float, max: Float)
        case leakyRelu(alpha: Float)
        case sigmoid
        case hardSigmoid(alpha: Float, beta: Float)
        case hardSwish
        case tanh
        case erf

        @inline(__always)
        public func apply(_ v: Float) -> Float {
            switch self {
            case .identity: return v
            case .relu: return v > 0 ? v : 0
            case .clip(let lo, let hi): return Swift.min(Swift.max(v, lo), hi)
            case .leakyRelu(let alpha): return v >= 0 ? v : v * alpha
            case .sigmoid: return KernelMath.sigmoid(v)
            case .hardSigmoid(let alpha, let beta): return Swift.min(Swift.max(alpha * v + beta, 0), 1)
            case .hardSwish: return v * Swift.min(Swift.max(v / 6 + 0.5, 0), 1)
            case .tanh: return KernelMath.tanh(v)
            case .erf: return Self.errorFunction(v)
            }
        }

        /// The error function (ONNX Erf, and GELU's exact form), in Double: its Taylor series
        /// below |x| = 2.5 (the terms fall below 2^-60 by n = 60), Lentz's continued fraction for
        /// erfc above, and +-1 beyond 6 (erfc(6) < 2^-54).
        @inline(never)
        public static func errorFunction(_ x: Float) -> Float {
            let d = Double(x)
            if d.isNaN { return x }
            let a = Swift.abs(d)
            if a >= 6 { return d > 0 ? 1 : -1 }
            if a < 2.5 {
                let x2 = d * d
                var term = d, sum = d
                var n = 0.0
                while Swift.abs(term) > 1e-18 * Swift.abs(sum) && n < 200 {
                    n += 1
                    term *= -x2 / n
                    sum += term / (2 * n + 1)
                }
                return Float(sum * 1.1283791670955126)  // 2 / sqrt(pi)
            }
            // erfc(a) = exp(-a^2) / sqrt(pi) / (a + 1/2 / (a + 1 / (a + 3/2 / (a + ...)))), from the back.
            var f = a
            var k = 60.0
            while k >= 1 {
                f = a + (k / 2) / f
                k -= 1
            }
            let erfc = KernelMath.exp(-a * a) / f * 0.5641895835477563  // 1 / sqrt(pi)
            return Float(d > 0 ? 1 - erfc : erfc - 1)
        }

        public func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
            // Plain compare-and-select loops: LLVM turns them into vector max/min. The standard
            // library's pointwiseMin/pointwiseMax on SIMD16<Float> stay scalar (measured 10x slower).
            switch self {
            case .identity:
                if UnsafePointer(y) != x { y.update(from: x, count: count) }
            case .relu:
                for i in 0..<count { let v = x[i]; y[i] = v > 0 ? v : 0 }
            case .clip(let lo, let hi):
                // min(max(x, lo), hi): with lo > hi every value becomes hi, as ONNX's Clip specifies.
                for i in 0..<count { let v = x[i]; let a = v < lo ? lo : v; y[i] = a > hi ? hi : a }
            case .leakyRelu(let alpha):
                for i in 0..<count { let v = x[i]; y[i] = v >= 0 ? v : v * alpha }
            case .hardSwish:
                for i in 0..<count {
                    let v = x[i]
                    let t = v / 6 + 0.5
                    y[i] = v * (t < 0 ? 0 : (t > 1 ? 1 : t))
                }
            default:
                for i in 0..<count { y[i] = apply(x[i]) }
            }
        }
    }
}
