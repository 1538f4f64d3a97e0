/// int8 element-wise and reduction kernels over pointers, shared by the interpreter and the
/// generated code.

/// Floats to int8: clamp(round(x / scale) + zero point), x / scale in float32. TFLite's QUANTIZE
/// rounds half away from zero; numpy (what callers who quantize themselves use) rounds half to even.
public func quantizeInt8(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32,
                         halfToEven: Bool = false) {
    #if arch(x86_64) && FERCC_AVX2
    let start = quantizeAVX2(x, y, count: count, scale: scale, zeroPoint: zeroPoint, halfToEven: halfToEven)
    #else
    let start = 0
    #endif
    for i in start..<count {
        let r = halfToEven ? KernelMath.round((x[i] / scale), .toNearestOrEven) : KernelMath.round((x[i] / scale), .toNearestOrAwayFromZero)
        let clamped = r.isNaN ? 0 : Swift.max(Swift.min(r, 1e9), -1e9)
        y[i] = Int8(Swift.min(Swift.max(Int32(clamped) &+ zeroPoint, -128), 127))
    }
}

/// int8 to floats: scale * (q - zero point), computed in double and rounded once.
public func dequantizeInt8(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: Float, zeroPoint: Int32) {
    let s = Double(scale)
    for i in 0..<count { y[i] = Float(s * Double(Int32(x[i]) - zeroPoint)) }
}

/// int8 to int8 with other quantization parameters (TFLite's Requantize).
public func requantizeInt8(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
                           multiplier: Int32, shift: Int, inputZeroPoint: Int32, outputZeroPoint: Int32) {
    for i in 0..<count {
        let v = QuantizedMath.multiplyByQuantizedMultiplier(Int32(x[i]) - inputZeroPoint, multiplier, shift) &+ outputZeroPoint
        y[i] = Int8(Swift.min(Swift.max(v, -128), 127))
    }
}

/// int8 to int8 through float, rounding half away from zero (TFLite's concatenation of inputs
/// whose parameters differ from the output's): round(q * scale + bias) + output zero point.
public func rescaleInt8(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, bias: Float, outputZeroPoint: Int32) {
    #if arch(x86_64) && FERCC_AVX2
    let start = rescaleAVX2(x, y, count: count, scale: scale, bias: bias, outputZeroPoint: outputZeroPoint)
    #else
    let start = 0
    #endif
    for i in start..<count {
        let v = KernelMath.round((Float(x[i]) * scale + bias), .toNearestOrAwayFromZero) + Float(outputZeroPoint)
        y[i] = Int8(Swift.min(Swift.max(v, -128), 127))
    }
}

extension QuantizedBinaryKernel {
    /// Applies the kernel to two tensors broadcast to `outShape` (numpy rules; shapes of equal rank).
    public func run(_ a: UnsafePointer<Int8>, _ aShape: [Int], _ b: UnsafePointer<Int8>, _ bShape: [Int],
                    _ y: UnsafeMutablePointer<Int8>, _ outShape: [Int]) {
        let count = outShape.reduce(1, *)
        if aShape == bShape {
            var i = 0
            #if arch(x86_64) && FERCC_AVX2
            if kind != .mul, s1 <= 0, s2 <= 0, sOut <= 0 {
                i = avx2Tables.withUnsafeBufferPointer { t in
                    #if FERCC_AVX512
                    binaryAddAVX512(a, b, y, count: count, offset1: offset1, offset2: offset2, leftShift: Self.leftShift,
                                    tables: t.baseAddress!, zeroPoint: outputZeroPoint, min: min, max: max)
                    #else
                    binaryAddAVX2(a, b, y, count: count, offset1: offset1, offset2: offset2, leftShift: Self.leftShift, tables: t.baseAddress!,
                                  AVX2Output(zeroPoint: outputZeroPoint, min: min, max: max, leftShift: false))
                    #endif
                }
            }
            #endif
            if kind != .mul, s1 <= 0, s2 <= 0, sOut <= 0 {
                // 16 lanes at a time, the same integer steps as `apply`.
                let zero = Int32Vector(repeating: 0)
                while i + 16 <= count {
                    let x = widen(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Int8>.self)) &+ Int32Vector(repeating: offset1)
                    let z = widen(UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Int8>.self)) &+ Int32Vector(repeating: offset2)
                    let sx = multiplyByQuantizedMultiplier(x &<< Self.leftShift, Int32Vector(repeating: m1), leftShift: zero,
                                                           rightShift: Int32Vector(repeating: Int32(-s1)))
                    let sz = multiplyByQuantizedMultiplier(z &<< Self.leftShift, Int32Vector(repeating: m2), leftShift: zero,
                                                           rightShift: Int32Vector(repeating: Int32(-s2)))
                    let raw = multiplyByQuantizedMultiplier(sx &+ sz, Int32Vector(repeating: mOut), leftShift: zero,
                                                            rightShift: Int32Vector(repeating: Int32(-sOut))) &+ Int32Vector(repeating: outputZeroPoint)
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

extension QuantizedMeanKernel {
    /// Mean over `axes` of an int8 tensor (the reduced axes kept as size 1 in the output order).
    public func run(_ x: UnsafePointer<Int8>, _ shape: [Int], axes: [Int], _ y: UnsafeMutablePointer<Int8>) {
        let rank = shape.count
        var outShape = shape
        for a in axes { outShape[a] = 1 }
        var outStrides = contiguousStrides(outShape)
        for a in axes { outStrides[a] = 0 }
        let outCount = outShape.reduce(1, *), count = shape.reduce(1, *)
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Swift.max(outCount, 1)) { sums in
            sums.initialize(repeating: 0)
            // The common case: a global average over the middle axes of NHWC.
            if rank == 4, axes.sorted() == [1, 2] {
                let c = shape[3], hw = shape[1] * shape[2]
                for n in 0..<shape[0] {
                    for p in 0..<hw {
                        let row = x + (n * hw + p) * c
                        for ch in 0..<c { sums[n * c + ch] &+= Int32(row[ch]) }
                    }
                }
            } else {
                withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(rank, 1)) { idx in
                    idx.initialize(repeating: 0)
                    for i in 0..<count {
                        var o = 0
                        for d in 0..<rank { o += idx[d] * outStrides[d] }
                        sums[o] &+= Int32(x[i])
                        var d = rank - 1
                        while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
                    }
                }
            }
            for o in 0..<outCount { y[o] = apply(sum: sums[o]) }
        }
    }
}

extension QuantizedLookupTable {
    public func run(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<count { y[i] = t[Int(x[i]) + 128] }
        }
    }
}

extension QuantizedHardSwishKernel {
    public func run(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        for i in 0..<count { y[i] = apply(x[i]) }
    }
}

/// int8 max/average pooling with the same quantization in and out (see `quantizedPool`).
public struct QuantizedPoolKernel: Sendable {
    public let geometry: Conv2DGeometry
    let average: Bool
    let min: Int32, max: Int32

    public init(geometry: Conv2DGeometry, average: Bool, min: Int32, max: Int32) {
        self.geometry = geometry
        self.average = average
        self.min = min
        self.max = max
    }

    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        quantizedPool(geometry, average: average, min: min, max: max, input, output)
    }
}
