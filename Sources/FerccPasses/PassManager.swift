import FerccIR

/// One graph rewrite, run to a fixed point; returns how many rewrites it made.
public protocol GraphPass {
    var name: String { get }
    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int
}

/// What one pass did, in run order (`fercc inspect --optimized --json` prints these).
public struct PassResult: Codable, Equatable {
    public var name: String
    public var changes: Int
    public var notes: [String]
}

/// The named passes and the default pipeline that turns an imported graph into the lean graph
/// the interpreter and the code generator run.
public enum PassManager {
    public static let passes: [GraphPass] = [
        RecognizeChannelShuffle(), ToNHWC(), FoldBatchNorm(), FoldConstants(), FoldPad(), FuseActivation(),
        FoldQDQ(), FuseDepthwisePointwise(), FuseExpandDepthwisePointwise(), FuseResidualAdd(),
        FuseConcatShuffle(),
        EliminateDeadCode()
    ]

    public static var defaultPipeline: [String] { passes.map(\.name) }

    /// "default", "none" or a comma-separated list of pass names.
    public static func pipeline(_ spec: String) throws -> [String] {
        switch spec {
        case "default", "": return defaultPipeline
        case "none": return []
        default:
            let names = spec.split(separator: ",").map { String($0.filter { $0 != " " }) }
            for n in names where !defaultPipeline.contains(n) {
                throw FerccError("unknown pass '\(n)' (passes: \(defaultPipeline.joined(separator: ", ")))")
            }
            return names
        }
    }

    /// Runs the passes in order, validating the graph after each one.
    public static func run(_ graph: inout Graph, pipeline: [String]) throws -> [PassResult] {
        var results: [PassResult] = []
        for name in pipeline {
            guard let pass = passes.first(where: { $0.name == name }) else {
                throw FerccError("unknown pass '\(name)'")
            }
            var notes: [String] = []
            let changes = try pass.run(&graph, notes: &notes)
            do {
                try graph.validate()
            } catch let e as FerccError {
                throw FerccError(node: e.node, "after pass \(name): \(e.reason)")
            }
            results.append(PassResult(name: name, changes: changes, notes: notes))
        }
        return results
    }
}

extension Graph {
    /// Inserts `node` at `index`, typing its outputs from its inputs; quantization copied from `like`.
    mutating func insert(_ node: Node, at index: Int, quantizationLike like: [String?] = []) throws {
        let inTypes = node.inputs.map { values[$0]!.type }
        let types = try ShapeInference.infer(
            node.op, inputs: inTypes, constants: node.inputs.map { values[$0]?.constant })
        for (i, (name, t)) in zip(node.outputs, types).enumerated() {
            var typed = t
            if i < like.count, let l = like[i] { typed.quantization = values[l]?.type.quantization }
            values[name] = Value(name: name, type: typed)
        }
        nodes.insert(node, at: index)
    }

    func isFloat(_ name: String) -> Bool { values[name]?.type.dtype == .float32 }

    /// A convolution's bias input, or a new zero constant (float, or int32 for int8 nodes) with
    /// one value per output channel (the weights' first dimension) when it has none.
    mutating func biasInput(of node: Node, int32: Bool) -> String {
        if node.inputs.count > 2 { return node.inputs[2] }
        let channels = values[node.inputs[1]]!.type.shape[0]
        let name = freshName("\(node.name)#zero_bias")
        addConstant(
            name,
            int32 ? .int32([Int32](repeating: 0, count: channels)) : .float([Float](repeating: 0, count: channels)),
            shape: [channels])
        return name
    }

    /// The only node reading `value`, when there is exactly one and the value is not a graph output.
    func soleConsumer(of value: String) -> Int? {
        guard !outputs.contains(value) else { return nil }
        var found: Int?
        for (i, n) in nodes.enumerated() where n.inputs.contains(value) {
            if found != nil { return nil }
            found = i
        }
        return found
    }

    /// Replaces node `index`'s output `old` by making `producer`'s output take its name: used when
    /// a node is folded into the op before it.
    mutating func removeNode(_ index: Int, forwardingOutputTo producer: Int) {
        let removed = nodes[index]
        let old = nodes[producer].outputs[0]
        nodes[producer].outputs[0] = removed.outputs[0]
        values[removed.outputs[0]]!.type = TensorType(
            values[old]!.type.dtype, values[removed.outputs[0]]!.type.shape,
            quantization: values[removed.outputs[0]]!.type.quantization)
        values[old] = nil
        nodes.remove(at: index)
    }
}

func inversePermutation(_ p: [Int]) -> [Int] {
    var inv = [Int](repeating: 0, count: p.count)
    for (i, a) in p.enumerated() { inv[a] = i }
    return inv
}
