import FerccIR
import FerccRuntime

/// Evaluates every node whose inputs are all constant (with the interpreter, so with the same
/// kernels) and replaces its outputs by constants.
struct FoldConstants: GraphPass {
    let name = "fold-constants"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var i = 0
        while i < graph.nodes.count {
            let node = graph.nodes[i]
            guard !node.inputs.isEmpty, node.inputs.allSatisfy({ graph.values[$0]?.isConstant == true }) else {
                i += 1; continue
            }
            var mini = Graph(source: graph.source)
            for input in node.inputs { mini.values[input] = graph.values[input] }
            for output in node.outputs { mini.values[output] = graph.values[output] }
            mini.nodes = [node]
            mini.outputs = node.outputs
            let results = try Interpreter(graph: mini).run(tensors: [:])
            for output in node.outputs {
                let data: TensorData
                switch results[output]! {
                case .float(let v): data = .float(v)
                case .int8(let v): data = .int8(v)
                case .uint8(let v): data = .uint8(v)
                case .int32(let v): data = .int32(v)
                }
                graph.values[output]!.constant = data
            }
            graph.nodes.remove(at: i)
            changes += 1
        }
        return changes
    }
}
