import FerccIR

/// What the importer knows while it walks the nodes: the IR graph built so far, where each ONNX
/// value ended up, and the NHWC views of 4-D values it has made for spatial ops.
final class ONNXImportContext {
    let path: String
    let opset: Int
    var graph: Graph
    /// ONNX value name -> IR value name, for ops that only forward their input (Identity, Dropout).
    private var aliases: [String: String] = [:]
    /// NCHW value -> its NHWC twin.
    private var nhwcViews: [String: String] = [:]
    private var names = Set<String>()
    var currentNode: ONNXNode?

    init(path: String, opset: Int, source: GraphSource) {
        self.path = path
        self.opset = opset
        self.graph = Graph(source: source)
    }

    func resolve(_ name: String) -> String { aliases[name] ?? name }

    func alias(_ name: String, to target: String) { aliases[name] = resolve(target) }

    /// The IR name of an ONNX value that must exist.
    func value(_ name: String) throws -> String {
        let r = resolve(name)
        guard graph.values[r] != nil else {
            throw FerccError("input '\(name)' is not produced by any node, initializer or graph input")
        }
        return r
    }

    func type(_ name: String) throws -> TensorType { graph.values[try value(name)]!.type }

    func constant(_ name: String) -> TensorData? { graph.values[resolve(name)]?.constant }

    func isConstant(_ name: String) -> Bool { constant(name) != nil }

    /// A name no value has yet, derived from `base`.
    func fresh(_ base: String) -> String {
        var candidate = base
        var i = 1
        while graph.values[candidate] != nil || names.contains(candidate) {
            candidate = "\(base)_\(i)"
            i += 1
        }
        names.insert(candidate)
        return candidate
    }

    func addConstant(_ name: String, _ data: TensorData, shape: [Int]) {
        graph.addConstant(name, data, shape: shape)
    }

    @discardableResult
    func emit(_ op: Op, inputs: [String], outputs: [String], name: String? = nil) throws -> [TensorType] {
        let nodeName = name ?? currentNode?.displayName ?? outputs.first ?? "node"
        return try graph.addNode(Node(name: nodeName, op: op, inputs: inputs, outputs: outputs))
    }

    /// The NHWC twin of a 4-D NCHW value, made by a Transpose the first time it is asked for.
    /// Constants are transposed here and now.
    func nhwc(_ onnxName: String) throws -> String {
        let name = try value(onnxName)
        if let v = nhwcViews[name] { return v }
        let t = graph.values[name]!.type
        guard t.rank == 4 else { throw FerccError("expected a 4-D NCHW tensor, '\(onnxName)' is \(t)") }
        let out = fresh("\(name)#nhwc")
        if let c = graph.values[name]!.constant {
            let s = t.shape
            addConstant(out, c.permuted(shape: s, perm: [0, 2, 3, 1]), shape: [s[0], s[2], s[3], s[1]])
        } else {
            try emit(.transpose(perm: [0, 2, 3, 1]), inputs: [name], outputs: [out], name: "\(name)#to_nhwc")
        }
        nhwcViews[name] = out
        return out
    }

    /// Emits a spatial op on NHWC inputs whose result is the ONNX value `output` (NCHW): the op
    /// writes an NHWC twin, and a Transpose back gives the ONNX value (dead code when only other
    /// spatial ops read it, since they take the twin).
    func emitNHWC(_ op: Op, inputs: [String], output: String) throws {
        let twin = fresh("\(output)#nhwc")
        try emit(op, inputs: inputs, outputs: [twin])
        try emit(.transpose(perm: [0, 3, 1, 2]), inputs: [twin], outputs: [output], name: "\(output)#to_nchw")
        nhwcViews[output] = twin
    }
}
