import FerccIR

/// A TFLite model's first subgraph as plain Swift values, copied out of the verified flatbuffer
/// by `TFLiteReader`; every index in it has been range-checked.
public struct TFLiteModel: Sendable {
    public var schemaVersion: Int
    public var description: String
    public var subgraphCount: Int
    public var tensors: [TFLiteTensor]
    public var operators: [TFLiteOperator]
    public var inputs: [Int]
    public var outputs: [Int]
}

public struct TFLiteTensor: Sendable {
    public var index: Int
    public var name: String
    /// tflite::TensorType
    public var type: Int
    public var shape: [Int]
    public var data: [UInt8]?
    public var scales: [Float]
    public var zeroPoints: [Int64]
    public var quantizedDimension: Int
    public var isSparse: Bool
    public var hasCustomQuantization: Bool
    public var isVariable: Bool
}

public struct TFLiteOperator: Sendable {
    public var index: Int
    public var builtinCode: Int
    public var version: Int
    public var customCode: String?
    /// Tensor indices; -1 marks an omitted optional input.
    public var inputs: [Int]
    public var outputs: [Int]
    public var options: TFLiteOptions
}

/// Builtin options, flattened (the fields of whichever options table the operator has).
public struct TFLiteOptions: Sendable {
    public var optionsType = 0
    public var hasCustomOptions = false
    public var padding = 0
    public var strideW = 1, strideH = 1
    public var dilationW = 1, dilationH = 1
    public var filterW = 0, filterH = 0
    public var depthMultiplier = 1
    public var fusedActivation = 0
    public var weightsFormat = 0
    public var keepNumDims = false
    /// FULLY_CONNECTED's hybrid input quantization: asymmetric instead of symmetric.
    public var asymmetricQuantizeInputs = false
    public var keepDims = false
    public var beta: Float = 1
    public var alpha: Float = 0.2
    public var axis = 0
    public var batchDims = 0
    public var num = 0
    public var beginMask = 0, endMask = 0, ellipsisMask = 0, newAxisMask = 0, shrinkAxisMask = 0
    public var offset = false
    public var alignCorners = false, halfPixelCenters = false
    public var newShape: [Int]?
    public var squeezeDims: [Int] = []
}

/// TFLite tensor types fercc names in messages.
enum TFLiteTensorType {
    static let float32 = 0, float16 = 1, int32 = 2, uint8 = 3, int64 = 4, bool = 6, int16 = 7, int8 = 9, float64 = 10

    static func name(_ t: Int) -> String {
        let names = [
            "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64", "int8",
            "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4"
        ]
        return t >= 0 && t < names.count ? names[t] : "type \(t)"
    }
}
