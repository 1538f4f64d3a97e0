import FerccIR

/// An ONNX model as plain Swift values: what `ONNXReader` copies out of protobuf-c's structs, so
/// that nothing past the reader touches C memory.
public struct ONNXModel: Sendable {
    public var irVersion: Int
    public var producer: String
    public var opsets: [String: Int]
    public var graph: ONNXGraph
}

public struct ONNXGraph: Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    public var initializers: [ONNXTensor]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    public var valueInfo: [ONNXValueInfo]
}

public struct ONNXNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]

    /// The node's name, or a stand-in built from its op type and position when the file has none.
    public var displayName: String
}

public enum ONNXAttribute: Sendable {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(ONNXTensor)
    case floats([Float])
    case ints([Int64])
    case strings([String])
    /// A kind fercc does not read (graphs, sparse tensors, type protos).
    case unsupported(String)
}

/// An ONNX dimension: a number, or a symbol such as "batch".
public enum ONNXDim: Equatable, Sendable {
    case value(Int)
    case symbol(String)
    case unknown
}

public struct ONNXValueInfo: Sendable {
    public var name: String
    /// TensorProto.DataType, 0 when absent.
    public var elemType: Int
    /// nil when the file gives no shape.
    public var dims: [ONNXDim]?
}

/// A tensor with its data decoded, or the reason it could not be decoded (reported when used).
public struct ONNXTensor: Sendable {
    public var name: String
    public var dims: [Int]
    public var dataType: Int
    public var data: Result<TensorData, FerccError>
}

/// TensorProto.DataType values fercc names in messages.
enum ONNXDataType {
    static func name(_ t: Int) -> String {
        switch t {
        case 1: return "float32"
        case 2: return "uint8"
        case 3: return "int8"
        case 4: return "uint16"
        case 5: return "int16"
        case 6: return "int32"
        case 7: return "int64"
        case 8: return "string"
        case 9: return "bool"
        case 10: return "float16"
        case 11: return "double"
        case 12: return "uint32"
        case 13: return "uint64"
        case 16: return "bfloat16"
        default: return "data type \(t)"
        }
    }
}
