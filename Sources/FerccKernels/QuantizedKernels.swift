/// Requantization of an int32 accumulator: multiplier and shift per output channel (one entry
/// for per-tensor), then the output zero point and the activation clamp.
public struct Requantization: Sendable {
    public var multipliers: [Int32]
    public var shifts: [Int]
    public var outputZeroPoint: Int32
    public var min: Int32
    public var max: Int32

    /// `scales` are the real multipliers (input scale x weight scale / output scale) in double.
    public init(scales: [Double], outputZeroPoint: Int32, min: Int32, max: Int32) {
        let q = scales.map(QuantizedMath.quantizeMultiplier)
        multipliers = q.map(\.multiplier)
        shifts = q.map(\.shift)
        self.outputZeroPoint = outputZeroPoint
        self.min = min
        self.max = max
    }

    /// Multipliers and shifts already computed (generated code stores them with the weights).
    @inline(never)
    public init(multipliers: [Int32], shifts: [Int], outputZeroPoint: Int32, min: Int32, max: Int32) {
        self.multipliers = multipliers
        self.shifts = shifts
        self.outputZeroPoint = outputZeroPoint
        self.min = min
        self.max = max
    }

    @inline(__always)
    public func apply(_ acc: Int32, channel: Int) -> Int32 {
        let c = multipliers.count == 1 ? 0 : channel
        let v = QuantizedMath.multiplyByQuantizedMultiplier(acc, multipliers[c], shifts[c]) &+ outputZeroPoint
        return Swift.min(Swift.max(v, min), max)
    }
}

/// int8 fully connected: out[b, o] = requant(sum_k w[o, k] * (x[b, k] - zp_in) + bias[o]).
public struct QuantizedFullyConnectedKernel: Sendable {
    let weights: [Int8]  // [outputs, depth]
    let bias: [Int32]
    let outputs: Int
    let depth: Int
    let inputZeroPoint: Int32
    let requant: Requantization

    @inline(never)
    public init(weights: [Int8], bias: [Int32]?, outputs: Int, depth: Int, inputZeroPoint: Int32, requantization: Requantization) {
        self.weights = weights
        self.bias = bias ?? [Int32](repeating: 0, count: outputs)
        self.outputs = outputs
        self.depth = depth
        self.inputZeroPoint = inputZeroPoint
        requant = requantization
    }

    /// The kernel from parameters in memory (see `QuantizedConv2DKernel`).
    @inline(never)
    public init(weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>?, outputs: Int, depth: Int, inputZeroPoint: Int32,
                multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int8>, channels: Int, outputZeroPoint: Int32, min: Int32, max: Int32) {
        self.init(weights: Array(UnsafeBufferPointer(start: weights, count: outputs * depth)),
                  bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: outputs)) }, outputs: outputs, depth: depth,
                  inputZeroPoint: inputZeroPoint,
                  requantization: Requantization(multipliers: Array(UnsafeBufferPointer(start: multipliers, count: channels)),
                                                 shifts: UnsafeBufferPointer(start: shifts, count: channels).map { Int($0) },
                                                 outputZeroPoint: outputZeroPoint, min: min, max: max))
    }

    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, batch: Int) {
        weights.withUnsafeBufferPointer { wb in
            for b in 0..<batch {
                let x = input + b * depth
                for o in 0..<outputs {
                    let w = wb.baseAddress! + o * depth
                    var acc: Int32 = 0
                    for k in 0..<depth { acc = acc &+ Int32(w[k]) &* (Int32(x[k]) &- inputZeroPoint) }
                    output[b * outputs + o] = Int8(truncatingIfNeeded: requant.apply(acc &+ bias[o], channel: o))
                }
            }
        }
    }
}

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

    @inline(never)
    public init(kind: Kind, scale1: Float, zeroPoint1: Int32, scale2: Float, zeroPoint2: Int32,
                outputScale: Float, outputZeroPoint: Int32, min: Int32, max: Int32) {
        self.kind = kind
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
            (m1, s1, m2, s2, mOut, sOut) = (q1.multiplier, q1.shift, q2.multiplier, q2.shift, qo.multiplier, qo.shift)
        }
        #if arch(x86_64) && FERCC_AVX2
        avx2Tables = binaryTablesAVX2(m1: m1, s1: s1, m2: m2, s2: s2, mOut: mOut, sOut: sOut)
        #else
        avx2Tables = []
        #endif
    }

    @inline(__always)
    public func apply(_ a: Int8, _ b: Int8) -> Int8 {
        let x = Int32(a) &+ offset1, y = Int32(b) &+ offset2
        let raw: Int32
        if kind == .mul {
            raw = QuantizedMath.multiplyByQuantizedMultiplier(x &* y, mOut, sOut) &+ outputZeroPoint
        } else {
            let sx = QuantizedMath.roundingDivideByPOT(QuantizedMath.saturatingRoundingDoublingHighMul(x &* (1 << Self.leftShift), m1), -s1)
            let sy = QuantizedMath.roundingDivideByPOT(QuantizedMath.saturatingRoundingDoublingHighMul(y &* (1 << Self.leftShift), m2), -s2)
            raw = QuantizedMath.roundingDivideByPOT(QuantizedMath.saturatingRoundingDoublingHighMul(sx &+ sy, mOut), -sOut) &+ outputZeroPoint
        }
        return Int8(truncatingIfNeeded: Swift.min(Swift.max(raw, min), max))
    }
}

/// int8 max and average pooling over NHWC, as TFLite's reference kernels: the average sums the
/// raw values of the taps inside the input and divides with rounding half away from zero.
public func quantizedPool(_ g: Conv2DGeometry, average: Bool, min: Int32, max: Int32,
                          _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>) {
    #if arch(x86_64) && FERCC_AVX2
    if !average && g.inC >= 16 {
        maxPoolAVX2(g, min: min, max: max, input, output)
        return
    }
    #endif
    quantizedPoolPortable(g, average: average, min: min, max: max, input, output)
}

/// One axis of a pooling window: its first input position, and the range of its taps that lie
/// inside the input (empty when none do).
@inline(__always)
func poolWindow(_ o: Int, stride: Int, padBegin: Int, kernel: Int, size: Int) -> (origin: Int, taps: Range<Int>) {
    let origin = o * stride - padBegin
    let first = Swift.max(0, -origin)
    return (origin, first..<Swift.max(Swift.min(kernel, size - origin), first))
}

/// `quantizedPool` without the x86 vector path (public so that tests on x86 check it too).
public func quantizedPoolPortable(_ g: Conv2DGeometry, average: Bool, min: Int32, max: Int32,
                                  _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>) {
    let c = g.inC
    // Taps outside, channels inside: each inner loop runs over contiguous channels and vectorizes.
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: Swift.max(c, 1)) { acc in
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
                let yStart = ys.lowerBound, yEnd = ys.upperBound
                for ow in 0..<g.outW {
                    let (x0, xs) = poolWindow(ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                    let xStart = xs.lowerBound, xEnd = xs.upperBound
                    let out = output + ((n * g.outH + oh) * g.outW + ow) * c
                    let count = Int32((yEnd - yStart) * (xEnd - xStart))
                    var first = 0
                    if !average {
                        // Max pooling 16 channels at a time on int8 vectors (then the clamp),
                        // from the window's first tap, rows apart by `rowStride`.
                        let lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.max(min, -128)))
                        let hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.min(max, 127)))
                        let corner = input + ((n * g.inH + y0 + yStart) * g.inW + x0 + xStart) * c
                        let rowStride = g.inW * c, rows = yEnd - yStart, columns = xEnd - xStart
                        // With 16 or more channels a partial last block is the last 16 channels,
                        // overlapping the block before (the same maxima written twice).
                        var blocks = c / 16
                        if c > 16 && c % 16 != 0 { blocks += 1 }
                        for block in 0..<blocks {
                            first = Swift.min(block * 16, c - 16)
                            var m = SIMD16<Int8>(repeating: -128)
                            var row = corner + first
                            for _ in 0..<rows {
                                var tap = row
                                for _ in 0..<columns {
                                    m = pointwiseMax(m, UnsafeRawPointer(tap).loadUnaligned(as: SIMD16<Int8>.self))
                                    tap += c
                                }
                                row += rowStride
                            }
                            m = pointwiseMin(pointwiseMax(m, lo), hi)
                            UnsafeMutableRawPointer(out + first).storeBytes(of: m, as: SIMD16<Int8>.self)
                        }
                        if c >= 16 { continue }
                        first = 0
                    }
                    for ch in first..<c { acc[ch] = average ? 0 : -128 }
                    for y in yStart..<yEnd {
                        for x in xStart..<xEnd {
                            let row = input + ((n * g.inH + y0 + y) * g.inW + x0 + x) * c
                            if average {
                                for ch in 0..<c { acc[ch] &+= Int32(row[ch]) }
                            } else {
                                for ch in first..<c { acc[ch] = Swift.max(acc[ch], Int32(row[ch])) }
                            }
                        }
                    }
                    for ch in first..<c {
                        var v = acc[ch]
                        if average, count > 0 {
                            v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count
                        }
                        out[ch] = Int8(truncatingIfNeeded: Swift.min(Swift.max(v, min), max))
                    }
                }
            }
        }
    }
}

/// int8 softmax along the last axis with TFLite's reference fixed-point arithmetic
/// (exp in Q5.26 -> Q0.31, sum in Q12.19, reciprocal by Newton-Raphson); output scale 1/256, zero point -128.
public struct QuantizedSoftmaxKernel: Sendable {
    let multiplier: Int32
    let leftShift: Int
    let diffMin: Int32

    public init(beta: Float, inputScale: Float) {
        let scaledDiffIntegerBits = 5
        let real = Swift.min(Double(beta) * Double(inputScale) * Double(1 << (31 - scaledDiffIntegerBits)), Double((Int64(1) << 31) - 1))
        let q = QuantizedMath.quantizeMultiplier(real)
        multiplier = q.multiplier
        leftShift = q.shift
        let maxInputRescaled = Double((1 << scaledDiffIntegerBits) - 1) * Double(Int64(1) << (31 - scaledDiffIntegerBits)) / Double(Int64(1) << leftShift)
        diffMin = -Int32(KernelMath.round(maxInputRescaled, .down))
    }

    /// exp of a (non-positive) difference from the row's maximum, Q0.31 (computed twice per
    /// element rather than stored, so that the kernel allocates nothing).
    @inline(__always)
    func exp(_ diff: Int32) -> Int32 {
        QuantizedMath.expOnNegativeValues(QuantizedMath.saturatingRoundingDoublingHighMul(diff &* (1 << Int32(leftShift)), multiplier))
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
                    let unsat = QuantizedMath.roundingDivideByPOT(QuantizedMath.saturatingRoundingDoublingHighMul(scale, exp(diff)), exponent)
                    y[c] = Int8(truncatingIfNeeded: Swift.min(Swift.max(unsat - 128, -128), 127))
                } else {
                    y[c] = -128
                }
            }
        }
    }
}

/// int8 mean of `count` elements from their raw int32 sum, as LiteRT's reference
/// QuantizedMeanOrSum: 1/count is folded into the fixed-point multiplier of
/// input scale / output scale (shift = floor(log2 count), capped at 32 and at 31 + the shift).
public struct QuantizedMeanKernel: Sendable {
    let multiplier: Int32
    let shift: Int
    let correction: Int32
    let outputZeroPoint: Int32

    public init(inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32, count: Int) {
        let q = QuantizedMath.quantizeMultiplier(Double(inputScale) / Double(outputScale))
        var s = 63 - UInt64(count).leadingZeroBitCount
        s = min(s, 32)
        s = min(s, 31 + q.shift)
        multiplier = Int32(truncatingIfNeeded: (Int64(q.multiplier) << Int64(s)) / Int64(count))
        shift = q.shift - s
        correction = inputZeroPoint &* Int32(truncatingIfNeeded: count)
        self.outputZeroPoint = outputZeroPoint
    }

    @inline(__always)
    public func apply(sum: Int32) -> Int8 {
        let v = QuantizedMath.multiplyByQuantizedMultiplier(sum &- correction, multiplier, shift) &+ outputZeroPoint
        return Int8(truncatingIfNeeded: Swift.min(Swift.max(v, -128), 127))
    }
}

/// An int8 -> int8 function as the 256-entry table TFLite builds for LOGISTIC and TANH: each
/// input value dequantized, transformed in float, requantized (round half away from zero).
public struct QuantizedLookupTable: Sendable {
    let table: [Int8]

    public init(inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32, _ transform: (Float) -> Float) {
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
}
