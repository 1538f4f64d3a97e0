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
            guard case .unary(let u) = node.op, graph.isFloat(node.inputs[0]), let act = Self.fused(u) else { i += 1; continue }
            let x = node.inputs[0]
            guard let pi = graph.producers()[x], graph.soleConsumer(of: x) == i else { i += 1; continue }
            switch graph.nodes[pi].op {
            case .conv2D(var c) where c.activation == .none:
                c.activation = act
                graph.nodes[pi].op = .conv2D(c)
            case .gemm(var gm) where gm.activation == .none:
                gm.activation = act
                graph.nodes[pi].op = .gemm(gm)
            case .binary(let b, .none):
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

    static func fused(_ u: UnaryOp) -> FusedActivation? {
        switch u {
        case .relu: return .relu
        case .clip(let lo, let hi):
            if lo == 0 && hi == 6 { return .relu6 }
            if lo == 0 && hi == .infinity { return .relu }
            return .clip(min: lo, max: hi)
        case .leakyRelu(let a): return .leakyRelu(alpha: a)
        case .hardSwish: return .hardSwish
        case .sigmoid: return .sigmoid
        case .identity, .hardSigmoid, .tanh: return nil
        }
    }
}
