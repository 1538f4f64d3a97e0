import FerccIR

/// What the TFLite importer knows while it walks the operators: the IR graph built so far and
/// the IR value of each tensor index.
final class TFLiteImportContext {
    let model: TFLiteModel
    var graph: Graph
    private var names: [Int: String] = [:]
    private var used = Set<String>()
    var op: TFLiteOperator!
    var opName: String { TFLiteOp.name(op.builtinCode) }
    /// How hybrid (dynamic-range) ops compute.
    let hybrid: TFLiteImporter.HybridArithmetic

    init(model: TFLiteModel, hybrid: TFLiteImporter.HybridArithmetic = .litert) {
        self.model = model
        self.hybrid = hybrid
        graph = Graph(source: GraphSource(format: "tflite", producer: model.description, opset: model.schemaVersion))
    }

    func fresh(_ base: String) -> String {
        var candidate = base.isEmpty ? "tensor" : base
        var i = 1
        while used.contains(candidate) || graph.values[candidate] != nil {
            candidate = "\(base)_\(i)"
            i += 1
        }
        used.insert(candidate)
        return candidate
    }

    /// The IR name of tensor `index` (given once; TFLite names may repeat or be empty).
    func name(_ index: Int) -> String {
        if let n = names[index] { return n }
        let t = model.tensors[index]
        let n = fresh(t.name.isEmpty ? "tensor_\(index)" : t.name)
        names[index] = n
        return n
    }

    func tensor(_ i: Int) -> TFLiteTensor { model.tensors[i] }

    /// Input `i` of the current operator (nil when absent or -1).
    func inputIndex(_ i: Int) -> Int? {
        i < op.inputs.count && op.inputs[i] >= 0 ? op.inputs[i] : nil
    }

    func requireInput(_ i: Int) throws -> Int {
        guard let idx = inputIndex(i) else { throw FerccError("\(opName) is missing input \(i)") }
        return idx
    }

    /// Every input of an op that takes any number of them (CONCATENATION, PACK): at least one.
    func variadicInputs() throws -> [String] {
        guard !op.inputs.isEmpty else { throw FerccError("the operator has no inputs") }
        return try op.inputs.indices.map { try value($0) }
    }

    /// The IR value for an input, defining constants on first use.
    func value(_ i: Int) throws -> String {
        let idx = try requireInput(i)
        let n = name(idx)
        if graph.values[n] == nil {
            guard let data = try constantData(idx) else {
                throw FerccError("input \(i) (tensor '\(tensor(idx).name)') is read before any operator writes it")
            }
            graph.values[n] = Value(name: n, type: try type(of: idx), constant: data)
        }
        return n
    }

    func type(_ name: String) -> TensorType { graph.values[name]!.type }

    func isConstant(_ i: Int) -> Bool {
        guard let idx = inputIndex(i) else { return false }
        return tensor(idx).data != nil
    }

    /// The constant integers of input `i` (shapes, axes, paddings).
    func ints(_ i: Int) throws -> [Int] {
        let idx = try requireInput(i)
        guard let data = try constantData(idx), let v = data.int64s else {
            throw FerccError("\(opName) input \(i) must be a constant integer tensor")
        }
        return v.map { Int($0) }
    }

    /// The tensor's quantization, checked: positive finite scales, zero points inside the
    /// element type's range, a quantized dimension inside the shape with one scale per index.
    func quantization(_ t: TFLiteTensor) throws -> Quantization? {
        guard !t.scales.isEmpty else { return nil }
        let zps = t.zeroPoints.isEmpty ? [Int64](repeating: 0, count: t.scales.count) : t.zeroPoints
        guard t.scales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw FerccError("tensor '\(t.name)' has a quantization scale that is not positive and finite")
        }
        let range: ClosedRange<Int64> =
            t.type == TFLiteTensorType.uint8
            ? 0...255 : t.type == TFLiteTensorType.int8 ? -128...127 : -(1 << 31)...((1 << 31) - 1)
        guard zps.count == t.scales.count || zps.count == 1, zps.allSatisfy(range.contains) else {
            throw FerccError(
                "tensor '\(t.name)' has zero points \(zps.prefix(4)) outside its type's range or not one per scale")
        }
        if t.scales.count > 1 {
            let d = t.quantizedDimension
            guard d >= 0, d < t.shape.count, t.shape[d] == t.scales.count else {
                throw FerccError("tensor '\(t.name)' has \(t.scales.count) scales on dimension \(d) of \(t.shape)")
            }
        }
        let z = zps.count == 1 && t.scales.count > 1 ? [Int64](repeating: zps[0], count: t.scales.count) : zps
        return Quantization(
            scales: t.scales, zeroPoints: z.map { Int32($0) }, axis: t.scales.count > 1 ? t.quantizedDimension : nil)
    }

    func type(of index: Int) throws -> TensorType {
        let t = tensor(index)
        guard !t.isSparse else { throw FerccError("tensor '\(t.name)' is sparse, which fercc does not read") }
        guard !t.hasCustomQuantization else { throw FerccError("tensor '\(t.name)' uses custom quantization") }
        guard t.shape.allSatisfy({ $0 >= 0 }) else {
            throw FerccError("tensor '\(t.name)' has a dynamic shape \(t.shape)")
        }
        try checkSize(t.shape, t.name)
        let dtype: DType
        switch t.type {
        case TFLiteTensorType.float32, TFLiteTensorType.float16, TFLiteTensorType.float64: dtype = .float32
        case TFLiteTensorType.int8: dtype = .int8
        case TFLiteTensorType.uint8: dtype = .uint8
        case TFLiteTensorType.int32: dtype = t.data != nil && t.scales.isEmpty ? .int64 : .int32
        case TFLiteTensorType.int64, TFLiteTensorType.bool: dtype = .int64
        default:
            throw FerccError(
                "tensor '\(t.name)' has type \(TFLiteTensorType.name(t.type)), which fercc does not support")
        }
        let q = dtype.isQuantized || dtype == .int32 ? try quantization(t) : nil
        if dtype.isQuantized && q == nil && t.data == nil {
            throw FerccError("tensor '\(t.name)' is \(TFLiteTensorType.name(t.type)) without quantization parameters")
        }
        return TensorType(dtype, t.shape, quantization: q)
    }

    /// A constant tensor's data, decoded little-endian and checked against its shape.
    func constantData(_ index: Int) throws -> TensorData? {
        let t = tensor(index)
        guard let bytes = t.data else { return nil }
        guard t.shape.allSatisfy({ $0 >= 0 }) else {
            throw FerccError("tensor '\(t.name)' has a negative dimension \(t.shape)")
        }
        try checkSize(t.shape, t.name)
        let count = t.shape.reduce(1, *)
        func check(_ size: Int) throws {
            guard bytes.count == count * size else {
                throw FerccError(
                    "tensor '\(t.name)' holds \(bytes.count) bytes, its shape \(t.shape) needs \(count * size)")
            }
        }
        func load<T>(_ type: T.Type) -> [T] {
            bytes.withUnsafeBytes { r in
                (0..<count).map { r.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
            }
        }
        switch t.type {
        case TFLiteTensorType.float32: try check(4); return .float(load(Float.self))
        case TFLiteTensorType.float64: try check(8); return .float(load(Double.self).map { Float($0) })
        case TFLiteTensorType.float16: try check(2); return .float(load(UInt16.self).map(halfToFloat))
        case TFLiteTensorType.int8: try check(1); return .int8(load(Int8.self))
        case TFLiteTensorType.uint8: try check(1); return .uint8(load(UInt8.self))
        case TFLiteTensorType.int32:
            try check(4)
            let v = load(Int32.self)
            return t.scales.isEmpty ? .int64(v.map { Int64($0) }) : .int32(v)
        case TFLiteTensorType.int64: try check(8); return .int64(load(Int64.self))
        case TFLiteTensorType.bool: try check(1); return .int64(load(UInt8.self).map { $0 != 0 ? 1 : 0 })
        default:
            throw FerccError(
                "constant tensor '\(t.name)' has type \(TFLiteTensorType.name(t.type)), which fercc does not read")
        }
    }

    /// Emits a node for the current operator writing TFLite tensor `output` (its quantization
    /// comes from the file).
    func emit(_ op: Op, inputs: [String], output: Int) throws {
        try emit(op, inputs: inputs, outputs: [output])
    }

    func emit(_ op: Op, inputs: [String], outputs: [Int]) throws {
        let names = outputs.map { name($0) }
        let quant = try outputs.map { try type(of: $0).quantization }
        let types = try graph.addNode(
            Node(name: names.first ?? opName, op: op, inputs: inputs, outputs: names), quantization: quant)
        for (t, idx) in zip(types, outputs) {
            let declared = try type(of: idx)
            guard t.shape == declared.shape || declared.shape.isEmpty else {
                throw FerccError(
                    "output '\(tensor(idx).name)' is declared \(declared.shape), fercc computes \(t.shape)")
            }
            guard t.dtype == declared.dtype else {
                throw FerccError(
                    "output '\(tensor(idx).name)' is declared \(declared.dtype.rawValue), fercc computes "
                        + "\(t.dtype.rawValue)"
                )
            }
        }
    }

    /// Emits an intermediate node whose output is not a TFLite tensor.
    func emitIntermediate(_ op: Op, inputs: [String], base: String, quantization: Quantization? = nil) throws -> String
    {
        let n = fresh(base)
        try graph.addNode(Node(name: n, op: op, inputs: inputs, outputs: [n]), quantization: [quantization])
        return n
    }
}

/// Shapes whose element count overflows or exceeds 2^31 are rejected before anything allocates them.
func checkSize(_ shape: [Int], _ name: String) throws {
    var count = 1
    for d in shape {
        let (p, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow, p <= 1 << 31 else { throw FerccError("tensor '\(name)' is impossibly large \(shape)") }
        count = p
    }
}
