// fercc-kernel requires: Int8/QuantizedMath.swift

extension Kernels {
    /// Requantization of an int32 accumulator: multiplier and shift per output channel (one entry
    /// for per-tensor), then the output zero point and the activation clamp. With `floatScales`
    /// (graphs fercc quantized itself) the scaling is `QuantizedMath.scaleInFloat` instead of
    /// TFLite's fixed point; every kernel computes the same bits either way.
    public struct Requantization: Sendable {
        public var multipliers: [Int32]
        public var shifts: [Int]
        public var outputZeroPoint: Int32
        public var min: Int32
        public var max: Int32
        /// The real multipliers in float32 when the scaling is float (same count as `multipliers`).
        public var floatScales: [Float]?

        /// `scales` are the real multipliers (input scale x weight scale / output scale) in double;
        /// `float`: scale in float32 (`QuantizedMath.scaleInFloat`) instead of TFLite's fixed point.
        public init(scales: [Double], outputZeroPoint: Int32, min: Int32, max: Int32, float: Bool = false) {
            let q = scales.map(QuantizedMath.quantizeMultiplier)
            multipliers = q.map { $0.multiplier }
            shifts = q.map { $0.shift }
            floatScales = float ? scales.map { Float($0) } : nil
            self.outputZeroPoint = outputZeroPoint
            self.min = min
            self.max = max
        }

        /// Multipliers and shifts already computed (generated code stores them with the weights),
        /// and the float scales if the scaling is float.
        @inline(never)
        public init(
            multipliers: [Int32], shifts: [Int], floatScales: [Float]? = nil, outputZeroPoint: Int32, min: Int32,
            max: Int32
        ) {
            self.multipliers = multipliers
            self.shifts = shifts
            self.floatScales = floatScales
            self.outputZeroPoint = outputZeroPoint
            self.min = min
            self.max = max
        }

        @inline(__always)
        public func apply(_ acc: Int32, channel: Int) -> Int32 {
            let c = multipliers.count == 1 ? 0 : channel
            let scaled =
                floatScales.map { QuantizedMath.scaleInFloat(acc, $0[c]) }
                ?? QuantizedMath.multiplyByQuantizedMultiplier(acc, multipliers[c], shifts[c])
            return Swift.min(Swift.max(scaled &+ outputZeroPoint, min), max)
        }
    }

    /// The vector type of the int8 kernels' accumulators: 16 int32 lanes, like `FloatVector`.
    public typealias Int32Vector = SIMD16<Int32>

    // Lane conversions written as loops: the standard library's SIMD init(truncatingIfNeeded:) is a
    // generic function that stays an unspecialized call per vector (measured: 1 GMAC/s); these
    // loops compile to single sign-extend / shuffle instructions.
    @inline(__always)
    static func widen(_ v: SIMD16<Int8>) -> Int32Vector {
        var r = Int32Vector()
        for i in 0..<16 { r[i] = Int32(v[i]) }
        return r
    }

    @inline(__always)
    static func widen(_ v: SIMD16<Int16>) -> Int32Vector {
        var r = Int32Vector()
        for i in 0..<16 { r[i] = Int32(v[i]) }
        return r
    }

    @inline(__always)
    static func widen(_ v: SIMD8<Int32>) -> SIMD8<Int64> {
        var r = SIMD8<Int64>()
        for i in 0..<8 { r[i] = Int64(v[i]) }
        return r
    }

    @inline(__always)
    static func narrow(_ v: SIMD8<Int64>) -> SIMD8<Int32> {
        var r = SIMD8<Int32>()
        for i in 0..<8 { r[i] = Int32(truncatingIfNeeded: v[i]) }
        return r
    }

    /// TFLite's MultiplyByQuantizedMultiplier on 16 lanes, each with its own multiplier and shift:
    /// the same bits as `QuantizedMath.multiplyByQuantizedMultiplier` lane by lane (multipliers are
    /// non-negative, so the one saturating case of the doubling high multiply cannot occur).
    @inline(__always)
    static func multiplyByQuantizedMultiplier(
        _ x: Int32Vector, _ multiplier: Int32Vector,
        leftShift: Int32Vector, rightShift: Int32Vector
    ) -> Int32Vector {
        let a = x &<< leftShift
        @inline(__always)
        func doublingHighMul(_ a: SIMD8<Int32>, _ b: SIMD8<Int32>) -> SIMD8<Int32> {
            let ab = widen(a) &* widen(b)
            // nudge = ab >= 0 ? 2^30 : 1 - 2^30, from the sign bits (SIMD masks would go through memory).
            let nudge = SIMD8<Int64>(repeating: 1 << 30) &+ ((ab &>> 63) & SIMD8<Int64>(repeating: 1 - (1 << 31)))
            let s = ab &+ nudge
            // Division by 2^31 truncating toward zero, as the scalar code's Int64 division.
            return narrow((s &+ ((s &>> 63) & ((1 << 31) - 1))) &>> 31)
        }
        let h = Int32Vector(
            lowHalf: doublingHighMul(a.lowHalf, multiplier.lowHalf),
            highHalf: doublingHighMul(a.highHalf, multiplier.highHalf))
        let mask = (Int32Vector(repeating: 1) &<< rightShift) &- 1
        let remainder = h & mask
        let threshold = (mask &>> 1) &- (h &>> 31)  // + 1 when h < 0
        // + 1 when remainder > threshold (both in [0, mask], so the difference cannot overflow).
        return (h &>> rightShift) &- ((threshold &- remainder) &>> 31)
    }

    /// Requantizes one block of 16 accumulators of the portable kernels and stores the channels
    /// that exist. `table` holds, per block, 16 lanes each of (folded) bias, multiplier (the float
    /// scale's bits when the scaling is float), left shift and right shift.
    @inline(__always)
    static func requantizeBlock(
        _ acc: Int32Vector, block b: Int, _ table: UnsafePointer<Int32>, _ requant: Requantization,
        channels: Int, _ out: UnsafeMutablePointer<Int8>
    ) {
        let t = UnsafeRawPointer(table + b * 64)
        let a = acc &+ t.loadUnaligned(as: Int32Vector.self)
        var v = Int32Vector()
        if requant.floatScales != nil {
            let s = t.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            for i in 0..<16 { v[i] = QuantizedMath.scaleInFloat(a[i], s[i]) }
        } else {
            v = multiplyByQuantizedMultiplier(
                a, t.loadUnaligned(fromByteOffset: 64, as: Int32Vector.self),
                leftShift: t.loadUnaligned(fromByteOffset: 128, as: Int32Vector.self),
                rightShift: t.loadUnaligned(fromByteOffset: 192, as: Int32Vector.self))
        }
        let z = v &+ Int32Vector(repeating: requant.outputZeroPoint)
        let lo = requant.min, hi = requant.max
        var q = Int32Vector()
        for i in 0..<16 { q[i] = Swift.min(Swift.max(z[i], lo), hi) }
        let o = b * 16
        let valid = Swift.min(channels - o, 16)
        if valid == 16 {
            var bytes = SIMD16<Int8>()
            for i in 0..<16 { bytes[i] = Int8(truncatingIfNeeded: q[i]) }
            UnsafeMutableRawPointer(out + o).storeBytes(of: bytes, as: SIMD16<Int8>.self)
        } else {
            for i in 0..<valid { out[o + i] = Int8(truncatingIfNeeded: q[i]) }
        }
    }

    @inline(__always)
    static func loadWeights16(_ p: UnsafePointer<Int16>) -> Int32Vector {
        widen(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int16>.self))
    }
}
