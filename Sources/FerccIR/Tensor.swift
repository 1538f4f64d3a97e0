/// Element types the IR knows: float32 and int8 activations (uint8 where a model's inputs are),
/// int8 weights, int32 biases, and int64 for the shape arithmetic that importers fold away.
public enum DType: String, Equatable, Sendable {
    case float32
    case int8
    case uint8
    case int32
    case int64

    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .int8, .uint8: return 1
        case .int64: return 8
        }
    }

    public var isQuantized: Bool { self == .int8 || self == .uint8 }

    /// The representable range of an integer type.
    public var integerRange: ClosedRange<Int32>? {
        switch self {
        case .int8: return -128...127
        case .uint8: return 0...255
        default: return nil
        }
    }
}

/// Affine quantization: real = scale * (q - zeroPoint), per tensor (one scale) or per channel
/// along `axis` (one scale per index of that axis).
public struct Quantization: Equatable, Sendable {
    public var scales: [Float]
    public var zeroPoints: [Int32]
    public var axis: Int?

    public init(scales: [Float], zeroPoints: [Int32], axis: Int? = nil) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }

    public init(scale: Float, zeroPoint: Int32) {
        self.init(scales: [scale], zeroPoints: [zeroPoint])
    }

    public var scale: Float { scales[0] }
    public var zeroPoint: Int32 { zeroPoints[0] }
    public var isPerChannel: Bool { axis != nil && scales.count > 1 }
}

/// The static type of a value: element type and a fully known shape.
public struct TensorType: Equatable, CustomStringConvertible, Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Set for quantized tensors (int8/uint8 values, int32 biases).
    public var quantization: Quantization?

    public init(_ dtype: DType, _ shape: [Int], quantization: Quantization? = nil) {
        self.dtype = dtype
        self.shape = shape
        self.quantization = quantization
    }

    /// Same element type and shape (quantization aside).
    public func sameLayout(_ other: TensorType) -> Bool { dtype == other.dtype && shape == other.shape }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    public var description: String {
        "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: "x"))]"
    }
}

/// Constant data held by a value (weights, folded shapes).
public enum TensorData: Equatable, Sendable {
    case float([Float])
    case int8([Int8])
    case uint8([UInt8])
    case int32([Int32])
    case int64([Int64])

    public var count: Int {
        switch self {
        case .float(let v): return v.count
        case .int8(let v): return v.count
        case .uint8(let v): return v.count
        case .int32(let v): return v.count
        case .int64(let v): return v.count
        }
    }

    public var dtype: DType {
        switch self {
        case .float: return .float32
        case .int8: return .int8
        case .uint8: return .uint8
        case .int32: return .int32
        case .int64: return .int64
        }
    }

    /// The data as floats (integers converted as numbers, not dequantized).
    public var floats: [Float] {
        switch self {
        case .float(let v): return v
        case .int8(let v): return v.map { Float($0) }
        case .uint8(let v): return v.map { Float($0) }
        case .int32(let v): return v.map { Float($0) }
        case .int64(let v): return v.map { Float($0) }
        }
    }

    /// The data as integers; float data must hold whole numbers.
    public var int64s: [Int64]? {
        switch self {
        case .int64(let v): return v
        case .int8(let v): return v.map { Int64($0) }
        case .uint8(let v): return v.map { Int64($0) }
        case .int32(let v): return v.map { Int64($0) }
        case .float(let v):
            var out: [Int64] = []
            out.reserveCapacity(v.count)
            for x in v {
                guard x.isFinite, x.rounded() == x, abs(x) < 9.2e18 else { return nil }
                out.append(Int64(x))
            }
            return out
        }
    }
}

extension TensorData {
    /// Elements at `indices`, in that order.
    public func gather(_ indices: [Int]) -> TensorData {
        switch self {
        case .float(let v): return .float(indices.map { v[$0] })
        case .int8(let v): return .int8(indices.map { v[$0] })
        case .uint8(let v): return .uint8(indices.map { v[$0] })
        case .int32(let v): return .int32(indices.map { v[$0] })
        case .int64(let v): return .int64(indices.map { v[$0] })
        }
    }
}

/// A named value of the graph: a graph input, a node output, or a constant.
public struct Value: Equatable, Sendable {
    public var name: String
    public var type: TensorType
    public var constant: TensorData?

    public init(name: String, type: TensorType, constant: TensorData? = nil) {
        self.name = name
        self.type = type
        self.constant = constant
    }

    public var isConstant: Bool { constant != nil }
}

/// Row-major strides of a shape.
public func stridesOf(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// IEEE 754 binary16 bits to Float (both importers read float16 weights; Swift's Float16 is not
/// available on every platform fercc builds on).
public func halfToFloat(_ h: UInt16) -> Float {
    let sign: FloatingPointSign = h & 0x8000 != 0 ? .minus : .plus
    let exponent = Int((h >> 10) & 0x1f), mantissa = Int(h & 0x3ff)
    if exponent == 0x1f { return mantissa == 0 ? (sign == .minus ? -.infinity : .infinity) : .nan }
    if exponent == 0 { return Float(sign: sign, exponent: -24, significand: Float(mantissa)) }
    return Float(sign: sign, exponent: exponent - 15, significand: 1 + Float(mantissa) / 1024)
}

/// The product of `dims`, or nil when one is negative or the product overflows: for shapes read
/// from untrusted files, before anything multiplies them.
public func checkedProduct(_ dims: [Int]) -> Int? {
    var p = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (r, overflow) = p.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        p = r
    }
    return p
}

/// Bytes for messages, in binary units: "111.8 GiB", "3.1 MiB", "512 bytes".
public func describeBytes(_ bytes: Int) -> String {
    if bytes == Int.max { return "more than 8 EiB" }
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var v = Double(bytes), u = 0
    while v >= 1024 && u < units.count - 1 {
        v /= 1024
        u += 1
    }
    return u == 0 ? "\(bytes) bytes" : "\((v * 10).rounded() / 10) \(units[u])"
}
