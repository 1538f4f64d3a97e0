// fercc-kernel requires: Int8/QuantizedMath.swift
// fercc-kernel requires(avx2): Int8/AVX2/Quantize+AVX2.swift
// fercc-kernel requires(avx512): Int8/AVX512/Quantize+AVX512.swift
// fercc-kernel requires(neon): Int8/ARM64/Quantize+NEON.swift

extension Kernels {
    /// int8 element-wise and reduction kernels over pointers, shared by the interpreter and the
    /// generated code.

    /// Floats to int8: clamp(round(x / scale) + zero point), x / scale in float32. TFLite's QUANTIZE
    /// rounds half away from zero; numpy (what callers who quantize themselves use) rounds half to even.
    public static func quantizeInt8(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32,
        halfToEven: Bool = false
    ) {
        #if arch(x86_64) && FERCC_AVX512
        var start = quantizeAVX512(x, y, count: count, scale: scale, zeroPoint: zeroPoint, halfToEven: halfToEven)
        start += quantizeAVX2(
            x + start, y + start, count: count - start, scale: scale, zeroPoint: zeroPoint, halfToEven: halfToEven)
        #elseif arch(x86_64) && FERCC_AVX2
        let start = quantizeAVX2(x, y, count: count, scale: scale, zeroPoint: zeroPoint, halfToEven: halfToEven)
        #elseif arch(arm64)
        let start = quantizeNEON(x, y, count: count, scale: scale, zeroPoint: zeroPoint, halfToEven: halfToEven)
        #else
        let start = 0
        #endif
        for i in start..<count {
            let r =
                halfToEven
                ? KernelMath.round((x[i] / scale), .toNearestOrEven)
                : KernelMath.round((x[i] / scale), .toNearestOrAwayFromZero)
            let clamped = r.isNaN ? 0 : Swift.max(Swift.min(r, 1e9), -1e9)
            y[i] = Int8(Swift.min(Swift.max(Int32(clamped) &+ zeroPoint, -128), 127))
        }
    }

    /// int8 to floats: scale * (q - zero point), computed in double and rounded once.
    public static func dequantizeInt8(
        _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: Float, zeroPoint: Int32
    ) {
        let s = Double(scale)
        for i in 0..<count { y[i] = Float(s * Double(Int32(x[i]) - zeroPoint)) }
    }

    /// int8 to int8 with other quantization parameters (TFLite's Requantize).
    public static func requantizeInt8(
        _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int,
        multiplier: Int32, shift: Int, inputZeroPoint: Int32, outputZeroPoint: Int32
    ) {
        for i in 0..<count {
            let v =
                QuantizedMath.multiplyByQuantizedMultiplier(Int32(x[i]) - inputZeroPoint, multiplier, shift)
                &+ outputZeroPoint
            y[i] = Int8(Swift.min(Swift.max(v, -128), 127))
        }
    }

    /// int8 to int8 through float, rounding half away from zero (TFLite's concatenation of inputs
    /// whose parameters differ from the output's): round(q * scale + bias) + output zero point.
    public static func rescaleInt8(
        _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, bias: Float,
        outputZeroPoint: Int32
    ) {
        #if arch(x86_64) && FERCC_AVX512
        let start = rescaleAVX512(x, y, count: count, scale: scale, bias: bias, outputZeroPoint: outputZeroPoint)
        #elseif arch(x86_64) && FERCC_AVX2
        let start = rescaleAVX2(x, y, count: count, scale: scale, bias: bias, outputZeroPoint: outputZeroPoint)
        #else
        let start = 0
        #endif
        for i in start..<count {
            let v = KernelMath.round((Float(x[i]) * scale + bias), .toNearestOrAwayFromZero) + Float(outputZeroPoint)
            y[i] = Int8(Swift.min(Swift.max(v, -128), 127))
        }
    }

    /// Floats to uint8 (uint8 models' QUANTIZE), as `quantizeInt8` rounds and clamps.
    public static func quantizeUInt8(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>, count: Int, scale: Float, zeroPoint: Int32
    ) {
        for i in 0..<count {
            let r = KernelMath.round((x[i] / scale), .toNearestOrAwayFromZero)
            let clamped = r.isNaN ? 0 : Swift.max(Swift.min(r, 1e9), -1e9)
            y[i] = UInt8(Swift.min(Swift.max(Int32(clamped) &+ zeroPoint, 0), 255))
        }
    }

    /// uint8 to floats: scale * (q - zero point), computed in double and rounded once.
    public static func dequantizeUInt8(
        _ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, count: Int, scale: Float, zeroPoint: Int32
    ) {
        let s = Double(scale)
        for i in 0..<count { y[i] = Float(s * Double(Int32(x[i]) - zeroPoint)) }
    }

    /// Between int8 and uint8 with other parameters (TFLite's Requantize), clamped to the
    /// output type's range.
    public static func requantizeInteger<A: FixedWidthInteger, B: FixedWidthInteger>(
        _ x: UnsafePointer<A>, _ y: UnsafeMutablePointer<B>, count: Int, multiplier: Int32, shift: Int,
        inputZeroPoint: Int32,
        outputZeroPoint: Int32
    ) {
        let lo = Int32(B.min), hi = Int32(B.max)
        for i in 0..<count {
            let v =
                QuantizedMath.multiplyByQuantizedMultiplier(Int32(x[i]) - inputZeroPoint, multiplier, shift)
                &+ outputZeroPoint
            y[i] = B(Swift.min(Swift.max(v, lo), hi))
        }
    }

}
