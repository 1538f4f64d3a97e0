// fercc-kernel requires: Int8/Requantization.swift Float/Binary.swift Data/BroadcastStrides.swift
// fercc-kernel requires(avx2): Int8/AVX2/Binary+AVX2.swift
// fercc-kernel requires(avx512): Int8/AVX512/Binary+AVX512.swift
// fercc-kernel requires(neon): Int8/ARM64/Binary+NEON.swift

extension Kernels {
    /// int8 ADD/SUB (TFLite: both inputs rescaled to 2x the larger input scale with 20 bits of
    /// headroom, summed, requantized) and MUL (product of offset inputs, requantized).
    public struct QuantizedBinaryKernel: Sendable {
        public enum Kind: Sendable { case add, sub, mul }
        let kind: Kind
        let offset1: Int32, offset2: Int32, outputZeroPoint: Int32
        let m1: Int32, s1: Int, m2: Int32, s2: Int, mOut: Int32, sOut: Int
        let min: Int32, max: Int32
        static let leftShift: Int32 = 20
        /// AVX2 builds: the three requantizations as `binaryAddAVX2` reads them.
        let avx2Tables: [Int32]
        #if arch(x86_64) && FERCC_AVX512
        /// How `binaryAddAVX512` rounds each of the three (`binaryRoundingsAVX512`).
        let avx512Roundings: [AVX512Rounding]
        #endif
        /// Per input of an add or subtract, 1 or -1 when its multiplier is +-2^30 with shift 0 (the
        /// input with the larger scale: TFLite rescales it by 1/2), else 0. Its rescaling is then
        /// exactly +-(x + offset) << (leftShift - 1): (x + offset) << leftShift is even, and an even
        /// a times +-2^30 is (+-a/2) * 2^31 exactly, which the doubling high multiply's nudge
        /// (|nudge| <= 2^30, the product's sign) never moves off +-a/2; a shift of 0 divides by 1.
        /// The vector paths take the shift instead of a multiply (one of the three).
        let halves1: Int32, halves2: Int32
        /// Add and subtract in float arithmetic (graphs fercc quantized itself): the output level
        /// is min(max(a * fa + (b * fb + fc), min), max) rounded half to even, both products fused.
        let floatArithmetic: Bool
        let fa: Float, fb: Float, fc: Float

        /// `floatArithmetic`: add and subtract requantize in float32 instead of TFLite's fixed point
        /// (multiply is TFLite's either way).
        @inline(never)
        public init(
            kind: Kind, scale1: Float, zeroPoint1: Int32, scale2: Float, zeroPoint2: Int32,
            outputScale: Float, outputZeroPoint: Int32, min: Int32, max: Int32, floatArithmetic: Bool = false
        ) {
            self.kind = kind
            self.floatArithmetic = floatArithmetic && kind != .mul
            // y = (a - za) * s1 / so +- (b - zb) * s2 / so + zo, the constant terms folded into fc.
            let r1 = Double(scale1) / Double(outputScale)
            let r2 = (kind == .sub ? -1 : 1) * Double(scale2) / Double(outputScale)
            fa = Float(r1)
            fb = Float(r2)
            fc = Float(Double(outputZeroPoint) - Double(zeroPoint1) * r1 - Double(zeroPoint2) * r2)
            offset1 = -zeroPoint1
            offset2 = -zeroPoint2
            self.outputZeroPoint = outputZeroPoint
            self.min = min
            self.max = max
            if kind == .mul {
                let q = QuantizedMath.quantizeMultiplier(Double(scale1) * Double(scale2) / Double(outputScale))
                (m1, s1, m2, s2) = (0, 0, 0, 0)
                (mOut, sOut) = (q.multiplier, q.shift)
            } else {
                let twiceMax = Double(2 * Swift.max(scale1, scale2))
                let q1 = QuantizedMath.quantizeMultiplier(Double(scale1) / twiceMax)
                var q2 = QuantizedMath.quantizeMultiplier(Double(scale2) / twiceMax)
                if kind == .sub { q2.multiplier = -q2.multiplier }
                let qo = QuantizedMath.quantizeMultiplier(twiceMax / Double(Float(1 << Self.leftShift) * outputScale))
                (m1, s1, m2, s2, mOut, sOut) = (
                    q1.multiplier, q1.shift, q2.multiplier, q2.shift, qo.multiplier, qo.shift
                )
            }
            @inline(__always) func halves(_ m: Int32, _ s: Int) -> Int32 {
                kind == .mul || s != 0 ? 0 : m == 1 << 30 ? 1 : m == -(1 << 30) ? -1 : 0
            }
            halves1 = halves(m1, s1)
            halves2 = halves(m2, s2)
            #if arch(x86_64) && FERCC_AVX2
            avx2Tables = binaryTablesAVX2(
                m1: m1, s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut, zeroPoint: outputZeroPoint, min: min, max: max)
            #else
            avx2Tables = []
            #endif
            #if arch(x86_64) && FERCC_AVX512
            avx512Roundings = binaryRoundingsAVX512(
                m1: m1, s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut, zeroPoint: outputZeroPoint, min: min, max: max)
            #endif
        }

        @inline(__always)
        public func apply(_ a: Int8, _ b: Int8) -> Int8 {
            if floatArithmetic {
                let v = fc.addingProduct(Float(b), fb).addingProduct(Float(a), fa)
                return Int8(Swift.min(Swift.max(v, Float(min)), Float(max)).rounded(.toNearestOrEven))
            }
            let x = Int32(a) &+ offset1, y = Int32(b) &+ offset2
            let raw: Int32
            if kind == .mul {
                raw = QuantizedMath.multiplyByQuantizedMultiplier(x &* y, mOut, sOut) &+ outputZeroPoint
            } else {
                let sx = QuantizedMath.roundingDivideByPOT(
                    QuantizedMath.saturatingRoundingDoublingHighMul(x &* (1 << Self.leftShift), m1), -s1)
                let sy = QuantizedMath.roundingDivideByPOT(
                    QuantizedMath.saturatingRoundingDoublingHighMul(y &* (1 << Self.leftShift), m2), -s2)
                raw =
                    QuantizedMath.roundingDivideByPOT(
                        QuantizedMath.saturatingRoundingDoublingHighMul(sx &+ sy, mOut), -sOut) &+ outputZeroPoint
            }
            return Int8(truncatingIfNeeded: Swift.min(Swift.max(raw, min), max))
        }

        /// `count` elements of two same-shape tensors in float arithmetic, 16 at a time (AVX2, or
        /// portable vectors), the rest one by one; the same bits every way.
        func runFloat(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
            var i = 0
            let lo = Float(min), hi = Float(max)
            #if arch(x86_64) && FERCC_AVX512
            i = binaryAddFloatAVX512(a, b, y, count: count, ma: fa, mb: fb, c: fc, lo: lo, hi: hi)
            #elseif arch(x86_64) && FERCC_AVX2
            i = binaryAddFloatAVX2(a, b, y, count: count, ma: fa, mb: fb, c: fc, lo: lo, hi: hi)
            #else
            let ma = SIMD16<Float>(repeating: fa), mb = SIMD16<Float>(repeating: fb), c = SIMD16<Float>(repeating: fc)
            let vlo = SIMD16<Float>(repeating: lo), vhi = SIMD16<Float>(repeating: hi)
            while i + 16 <= count {
                let x = SIMD16<Float>(
                    SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Int8>.self)))
                let z = SIMD16<Float>(
                    SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Int8>.self)))
                let v = c.addingProduct(z, mb).addingProduct(x, ma).clamped(lowerBound: vlo, upperBound: vhi)
                let r = SIMD16<Int8>(truncatingIfNeeded: SIMD16<Int32>(v.rounded(.toNearestOrEven)))
                UnsafeMutableRawPointer(y + i).storeBytes(of: r, as: SIMD16<Int8>.self)
                i += 16
            }
            #endif
            while i < count { y[i] = apply(a[i], b[i]); i += 1 }
        }

        /// Applies the kernel to two tensors broadcast to `outShape` (numpy rules; shapes of equal rank).
        public func run(
            _ a: UnsafePointer<Int8>, _ aShape: [Int], _ b: UnsafePointer<Int8>, _ bShape: [Int],
            _ y: UnsafeMutablePointer<Int8>, _ outShape: [Int]
        ) {
            let count = outShape.reduce(1, *)
            if aShape == bShape && floatArithmetic {
                runFloat(a, b, y, count: count)
                return
            }
            if aShape == bShape {
                var i = 0
                #if arch(x86_64) && FERCC_AVX2
                if kind != .mul, s1 <= 0, s2 <= 0, sOut <= 0 {
                    i = avx2Tables.withUnsafeBufferPointer { t in
                        #if FERCC_AVX512
                        binaryAddAVX512(
                            a, b, y, count: count, offset1: offset1, offset2: offset2, leftShift: Self.leftShift,
                            halves1: halves1, halves2: halves2, tables: t.baseAddress!, roundings: avx512Roundings,
                            zeroPoint: outputZeroPoint, min: min, max: max)
                        #else
                        binaryAddAVX2(
                            a, b, y, count: count, offset1: offset1, offset2: offset2, leftShift: Self.leftShift,
                            halves1: halves1, halves2: halves2, tables: t.baseAddress!,
                            AVX2Output(zeroPoint: outputZeroPoint, min: min, max: max, leftShift: false))
                        #endif
                    }
                }
                #elseif arch(arm64)
                if kind != .mul, s1 <= 0, s2 <= 0, sOut <= 0, (16...23).contains(Self.leftShift) {
                    i = binaryAddNEON(
                        a, b, y, count: count, offset1: offset1, offset2: offset2, leftShift: Self.leftShift, m1: m1,
                        s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut, zeroPoint: outputZeroPoint, min: min, max: max)
                }
                #endif
                if kind != .mul, s1 <= 0, s2 <= 0, sOut <= 0 {
                    // 16 lanes at a time, the same integer steps as `apply`.
                    let zero = Int32Vector(repeating: 0)
                    while i + 16 <= count {
                        let x =
                            widen(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Int8>.self))
                            &+ Int32Vector(repeating: offset1)
                        let z =
                            widen(UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Int8>.self))
                            &+ Int32Vector(repeating: offset2)
                        let sx = multiplyByQuantizedMultiplier(
                            x &<< Self.leftShift, Int32Vector(repeating: m1), leftShift: zero,
                            rightShift: Int32Vector(repeating: Int32(-s1)))
                        let sz = multiplyByQuantizedMultiplier(
                            z &<< Self.leftShift, Int32Vector(repeating: m2), leftShift: zero,
                            rightShift: Int32Vector(repeating: Int32(-s2)))
                        let raw =
                            multiplyByQuantizedMultiplier(
                                sx &+ sz, Int32Vector(repeating: mOut), leftShift: zero,
                                rightShift: Int32Vector(repeating: Int32(-sOut)))
                            &+ Int32Vector(repeating: outputZeroPoint)
                        for l in 0..<16 { y[i + l] = Int8(truncatingIfNeeded: Swift.min(Swift.max(raw[l], min), max)) }
                        i += 16
                    }
                }
                while i < count { y[i] = apply(a[i], b[i]); i += 1 }
                return
            }
            if bShape.reduce(1, *) == 1 {
                for i in 0..<count { y[i] = apply(a[i], b[0]) }
                return
            }
            let sa = broadcastStrides(aShape, to: outShape), sb = broadcastStrides(bShape, to: outShape)
            let rank = outShape.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(rank, 1)) { idx in
                idx.initialize(repeating: 0)
                for o in 0..<count {
                    var ia = 0, ib = 0
                    for d in 0..<rank { ia += idx[d] * sa[d]; ib += idx[d] * sb[d] }
                    y[o] = apply(a[ia], b[ib])
                    var d = rank - 1
                    while d >= 0 { idx[d] += 1; if idx[d] < outShape[d] { break }; idx[d] = 0; d -= 1 }
                }
            }
        }
    }
}
