/// One operation applied to named values.
public struct Node: Equatable, Sendable {
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var outputs: [String]

    public init(name: String, op: Op, inputs: [String], outputs: [String]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// Where a graph came from, for reports.
public struct GraphSource: Equatable, Sendable {
    public var format: String
    public var producer: String
    public var opset: Int

    public init(format: String, producer: String = "", opset: Int = 0) {
        self.format = format
        self.producer = producer
        self.opset = opset
    }
}

/// How a graph's int8 ops compute where fercc has a choice (docs/design.md, decision 26).
public enum Int8Arithmetic: String, Equatable, Sendable, CaseIterable {
    /// TFLite's reference kernels, bit for bit: imported int8 models, whose file defines the answer.
    case tflite
    /// fercc's own quantization (`fercc quantize`): same as `tflite` but int8 add and subtract,
    /// which requantize in float32 (XNNPACK's way) instead of TFLite's three fixed-point steps,
    /// and convolutions and fully connected layers, which scale their accumulators in float32.
    case fercc
}

/// A static dataflow graph: values by name, nodes in topological order.
public struct Graph: Equatable, Sendable {
    public var values: [String: Value] = [:]
    public var nodes: [Node] = []
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var source: GraphSource
    /// How its int8 ops compute (set by who made the int8 graph; importers leave `tflite`).
    public var int8Arithmetic = Int8Arithmetic.tflite

    public init(source: GraphSource) {
        self.source = source
    }

    public func type(of name: String) -> TensorType? { values[name]?.type }

    public mutating func addConstant(_ name: String, _ data: TensorData, shape: [Int]) {
        values[name] = Value(name: name, type: TensorType(data.dtype, shape), constant: data)
    }

    /// Adds a node, inferring the types of its outputs from its inputs. Quantized outputs take
    /// their quantization from `quantization` (what the model file says).
    @discardableResult
    public mutating func addNode(_ node: Node, quantization: [Quantization?] = []) throws -> [TensorType] {
        var inputTypes: [TensorType] = []
        for input in node.inputs {
            guard let v = values[input] else {
                throw FerccError(node: node.name, "input '\(input)' is not defined before this node")
            }
            inputTypes.append(v.type)
        }
        let constants = node.inputs.map { values[$0]?.constant }
        var outTypes: [TensorType]
        do {
            outTypes = try ShapeInference.infer(node.op, inputs: inputTypes, constants: constants)
            for (i, q) in quantization.enumerated() where i < outTypes.count {
                outTypes[i].quantization = q
            }
        } catch let e as FerccError {
            throw e.atNode(node.name)
        }
        guard outTypes.count == node.outputs.count else {
            throw FerccError(
                node: node.name, "\(node.op.name) has \(outTypes.count) outputs, node names \(node.outputs.count)")
        }
        for (name, t) in zip(node.outputs, outTypes) {
            if values[name] != nil {
                throw FerccError(node: node.name, "value '\(name)' is defined twice")
            }
            values[name] = Value(name: name, type: t)
        }
        nodes.append(node)
        return outTypes
    }

    /// Removes nodes whose outputs nobody reads and constants nobody uses.
    public mutating func removeDeadCode() {
        var live = Set(outputs)
        var keep = [Bool](repeating: false, count: nodes.count)
        for i in stride(from: nodes.count - 1, through: 0, by: -1) {
            if nodes[i].outputs.contains(where: live.contains) {
                keep[i] = true
                live.formUnion(nodes[i].inputs)
            }
        }
        nodes = nodes.indices.filter { keep[$0] }.map { nodes[$0] }
        live.formUnion(inputs)
        values = values.filter { live.contains($0.key) }
    }
}
