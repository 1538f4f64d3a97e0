// fercc-kernel requires: Int8/QuantizedMath.swift Common/Activation.swift

extension Kernels {

    /// An int8 -> int8 function as the 256-entry table TFLite builds for LOGISTIC and TANH: each
    /// input value dequantized, transformed in float, requantized (round half away from zero).
    public struct QuantizedLookupTable: Sendable {
        let table: [Int8]

        /// The real function a table of `activation` holds: the logistic as TFLite's reference
        /// kernels compute it for their table, every other activation its own float function.
        public static func function(_ activation: Activation) -> (Float) -> Float {
            if case .sigmoid = activation { return { x in 1 / (1 + Float(KernelMath.exp(Double(-x)))) } }
            return activation.apply
        }

        /// The table of `activation`.
        public init(
            _ activation: Activation, inputScale: Float, inputZeroPoint: Int32, outputScale: Float,
            outputZeroPoint: Int32
        ) {
            self.init(
                inputScale: inputScale, inputZeroPoint: inputZeroPoint, outputScale: outputScale,
                outputZeroPoint: outputZeroPoint,
                Self.function(activation))
        }

        public init(
            inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32,
            _ transform: (Float) -> Float
        ) {
            let inverse = 1 / outputScale
            table = (-128...127).map { v in
                let x = inputScale * Float(Int32(v) - inputZeroPoint)
                let r = KernelMath.round((transform(x) * inverse), .toNearestOrAwayFromZero)
                let q = Int32(max(min(r + Float(outputZeroPoint), 127), -128))
                return Int8(q)
            }
        }

        @inline(__always)
        public func apply(_ x: Int8) -> Int8 { table[Int(x) + 128] }

        public func run(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
            table.withUnsafeBufferPointer { t in
                for i in 0..<count { y[i] = t[Int(x[i]) + 128] }
            }
        }
    }

    /// int8 hard-swish with TFLite's 16-bit fixed-point arithmetic: x on a 2^7 finer input scale,
    /// a "reluish" factor in [0, 1] for relu6(x + 3) / 6, their product rescaled to the output.
    public struct QuantizedHardSwishKernel: Sendable {
        let inputZeroPoint: Int32, outputZeroPoint: Int32
        let outputMultiplier: Int16, outputExponent: Int
        let reluishMultiplier: Int16, reluishExponent: Int

        public init(inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32) {
            self.inputZeroPoint = inputZeroPoint
            self.outputZeroPoint = outputZeroPoint
            let hires = (1.0 / 128.0) * inputScale
            let reluishScale: Float = 3.0 / 32768.0
            let o = QuantizedMath.quantizeMultiplier(Double(hires / outputScale))
            let r = QuantizedMath.quantizeMultiplier(Double(hires / reluishScale))
            outputMultiplier = Self.downscale(o.multiplier)
            outputExponent = o.shift
            reluishMultiplier = Self.downscale(r.multiplier)
            reluishExponent = r.shift
        }

        static func downscale(_ m: Int32) -> Int16 {
            let offset: Int32 = 1 << 15
            if m >= Int32.max - offset { return Int16.max }
            return Int16((m + offset) >> 16)
        }

        static func srdhm16(_ a: Int16, _ b: Int16) -> Int16 {
            if a == b && a == Int16.min { return Int16.max }
            let ab = Int32(a) * Int32(b)
            let nudge: Int32 = ab >= 0 ? 1 << 14 : 1 - (1 << 14)
            return Int16(truncatingIfNeeded: (ab + nudge) / (1 << 15))
        }

        static func sdhm16(_ a: Int16, _ b: Int16) -> Int16 {
            if a == b && a == Int16.min { return Int16.max }
            return Int16(truncatingIfNeeded: (Int32(a) * Int32(b)) / (1 << 15))
        }

        static func rdpot16(_ x: Int16, _ exponent: Int) -> Int16 {
            if exponent == 0 { return x }
            let mask = Int16((1 << exponent) - 1)
            let remainder = x & mask
            let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
            return (x >> Int16(exponent)) + (remainder > threshold ? 1 : 0)
        }

        static func saturatingLeftShift(_ x: Int16, _ amount: Int) -> Int16 {
            let v = Int32(x) * (Int32(1) << Int32(amount))
            return Int16(min(max(v, Int32(Int16.min)), Int32(Int16.max)))
        }

        @inline(__always)
        public func apply(_ q: Int8) -> Int8 {
            let input = Int16(Int32(q) - inputZeroPoint)
            let hires = input &* (1 << 7)
            let preshift = Self.srdhm16(hires, outputMultiplier)
            var reluish = hires
            if reluishExponent > 0 { reluish = Self.saturatingLeftShift(reluish, reluishExponent - 1) }
            reluish = Self.srdhm16(reluish, reluishMultiplier)
            if reluishExponent > 0 { reluish = Self.saturatingLeftShift(reluish, 1) }
            if reluishExponent < 0 { reluish = Self.rdpot16(reluish, -reluishExponent) }
            reluish = Int16((Int32(reluish) + (1 << 15)) >> 1)
            let product = Self.sdhm16(reluish, preshift)
            var out = Int32(Self.rdpot16(product, -outputExponent)) + outputZeroPoint
            out = min(max(out, -128), 127)
            return Int8(out)
        }

        public func run(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
            for i in 0..<count { y[i] = apply(x[i]) }
        }
    }
}
