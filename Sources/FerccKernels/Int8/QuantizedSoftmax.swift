// fercc-kernel requires: Int8/QuantizedMath.swift

extension Kernels {
    /// int8 softmax along the last axis with TFLite's reference fixed-point arithmetic
    /// (exp in Q5.26 -> Q0.31, sum in Q12.19, reciprocal by Newton-Raphson); output scale 1/256, zero point -128.
    public struct QuantizedSoftmaxKernel: Sendable {
        let multiplier: Int32
        let leftShift: Int
        let diffMin: Int32

        public init(beta: Float, inputScale: Float) {
            let scaledDiffIntegerBits = 5
            let real = Swift.min(
                Double(beta) * Double(inputScale) * Double(1 << (31 - scaledDiffIntegerBits)),
                Double((Int64(1) << 31) - 1))
            let q = QuantizedMath.quantizeMultiplier(real)
            multiplier = q.multiplier
            leftShift = q.shift
            let maxInputRescaled =
                Double((1 << scaledDiffIntegerBits) - 1) * Double(Int64(1) << (31 - scaledDiffIntegerBits))
                / Double(Int64(1) << leftShift)
            diffMin = -Int32(KernelMath.round(maxInputRescaled, .down))
        }

        /// exp of a (non-positive) difference from the row's maximum, Q0.31 (computed twice per
        /// element rather than stored, so that the kernel allocates nothing).
        @inline(__always)
        func exp(_ diff: Int32) -> Int32 {
            QuantizedMath.expOnNegativeValues(
                QuantizedMath.saturatingRoundingDoublingHighMul(diff &* (1 << Int32(leftShift)), multiplier))
        }

        public func run(_ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>, outer: Int, depth: Int) {
            for i in 0..<outer {
                let x = input + i * depth, y = output + i * depth
                var maxIn: Int32 = -128
                for c in 0..<depth { maxIn = Swift.max(maxIn, Int32(x[c])) }
                var sumOfExps: Int32 = 0  // Q12.19
                for c in 0..<depth {
                    let diff = Int32(x[c]) - maxIn
                    if diff >= diffMin { sumOfExps = sumOfExps &+ QuantizedMath.roundingDivideByPOT(exp(diff), 12) }
                }
                let (scale, bitsOverUnit) = QuantizedMath.reciprocal(sumOfExps, integerDigits: 12)
                let exponent = bitsOverUnit + 31 - 8
                for c in 0..<depth {
                    let diff = Int32(x[c]) - maxIn
                    if diff >= diffMin {
                        let unsat = QuantizedMath.roundingDivideByPOT(
                            QuantizedMath.saturatingRoundingDoublingHighMul(scale, exp(diff)), exponent)
                        y[c] = Int8(truncatingIfNeeded: Swift.min(Swift.max(unsat - 128, -128), 127))
                    } else {
                        y[c] = -128
                    }
                }
            }
        }
    }
}
