import FerccIR

/// A tensor's data while the interpreter runs: float32 activations, or the integers of a
/// quantized model.
public enum RuntimeTensor: Equatable, Sendable {
    case float([Float])
    case int8([Int8])
    case uint8([UInt8])
    case int32([Int32])

    public var count: Int {
        switch self {
        case .float(let v): return v.count
        case .int8(let v): return v.count
        case .uint8(let v): return v.count
        case .int32(let v): return v.count
        }
    }

    public var dtype: DType {
        switch self {
        case .float: return .float32
        case .int8: return .int8
        case .uint8: return .uint8
        case .int32: return .int32
        }
    }

    public var floats: [Float]? {
        if case .float(let v) = self { return v }
        return nil
    }

    public var int8s: [Int8]? {
        if case .int8(let v) = self { return v }
        return nil
    }

    /// Constant data as the interpreter holds it (int64 shape constants never reach run time).
    init?(_ data: TensorData) {
        switch data {
        case .float(let v): self = .float(v)
        case .int8(let v): self = .int8(v)
        case .uint8(let v): self = .uint8(v)
        case .int32(let v): self = .int32(v)
        case .int64: return nil
        }
    }

    /// Real values: floats as they are, integers dequantized with `q`.
    public func dequantized(_ q: Quantization?) -> [Float] {
        let scale = q?.scale ?? 1, zp = q?.zeroPoint ?? 0
        switch self {
        case .float(let v): return v
        case .int8(let v): return v.map { Float(Double(scale) * Double(Int32($0) - zp)) }
        case .uint8(let v): return v.map { Float(Double(scale) * Double(Int32($0) - zp)) }
        case .int32(let v): return v.map { Float(Double(scale) * Double($0 - zp)) }
        }
    }

    /// Floats quantized as clamp(round(x / scale) + zero point), x / scale in float32. TFLite's
    /// QUANTIZE op rounds half away from zero (the default); at the API boundary fercc rounds half
    /// to even, as numpy does for the callers who quantize their inputs themselves (and as the
    /// reference outputs of LiteRT's own Python tooling were made).
    public static func quantize(
        _ x: [Float], _ q: Quantization, as dtype: DType,
        rounding: FloatingPointRoundingRule = .toNearestOrAwayFromZero
    ) -> RuntimeTensor {
        let range = dtype.integerRange ?? -128...127
        let values = x.map { v -> Int32 in
            let r = (v / q.scale).rounded(rounding)
            let i = r.isFinite ? Int32(max(min(r, 1e9), -1e9)) : (r > 0 ? Int32.max / 2 : Int32.min / 2)
            return min(max(i &+ q.zeroPoint, range.lowerBound), range.upperBound)
        }
        return dtype == .uint8 ? .uint8(values.map { UInt8($0) }) : .int8(values.map { Int8($0) })
    }
}
