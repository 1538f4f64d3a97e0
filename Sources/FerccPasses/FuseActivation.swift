import FerccIR

/// Moves Relu, Relu6 / Clip, LeakyRelu, HardSwish and Sigmoid into the epilogue of the float
/// Conv2D, Gemm or elementwise op before them when they are its only reader.
struct FuseActivation: GraphPass {
    let name = "fuse-activation"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var i = 0
        while i < graph.nodes.count {
            let node = graph.nodes[i]
            guard case .unary(let u) = node.op, graph.isFloat(node.inputs[0]), u.fusable else { i += 1; continue }
            // clip(0, inf) is a ReLU in every kernel (which turns NaN into 0 as TFLite's does).
            let act: Activation = u == .clip(min: 0, max: .infinity) ? .relu : u
            let x = node.inputs[0]
            guard let pi = graph.producers()[x], graph.soleConsumer(of: x) == i else { i += 1; continue }
            switch graph.nodes[pi].op {
            case .conv2D(var c) where c.activation == .identity:
                c.activation = act
                graph.nodes[pi].op = .conv2D(c)
            case .gemm(var gm) where gm.activation == .identity:
                gm.activation = act
                graph.nodes[pi].op = .gemm(gm)
            case .binary(let b, .identity):
                graph.nodes[pi].op = .binary(b, activation: act)
            default:
                i += 1
                continue
            }
            graph.removeNode(i, forwardingOutputTo: pi)
            changes += 1
        }
        return changes
    }
}
