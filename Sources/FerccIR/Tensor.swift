/// Element types the IR knows. Activations are float32 (int8 arrives with the quantization work);
/// int64 exists for the shape arithmetic that importers fold away.
public enum DType: String, Equatable, Sendable {
    case float32
    case int64

    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .int64: return 8
        }
    }
}

/// The static type of a value: element type and a fully known shape.
public struct TensorType: Equatable, CustomStringConvertible, Sendable {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    public var description: String {
        "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: "x"))]"
    }
}

/// Constant data held by a value (weights, folded shapes).
public enum TensorData: Equatable, Sendable {
    case float([Float])
    case int64([Int64])

    public var count: Int {
        switch self {
        case .float(let v): return v.count
        case .int64(let v): return v.count
        }
    }

    public var dtype: DType {
        switch self {
        case .float: return .float32
        case .int64: return .int64
        }
    }

    /// The data as floats (int64 converted), for kernels that only read float.
    public var floats: [Float] {
        switch self {
        case .float(let v): return v
        case .int64(let v): return v.map { Float($0) }
        }
    }

    /// The data as integers; float data must hold whole numbers.
    public var int64s: [Int64]? {
        switch self {
        case .int64(let v): return v
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
