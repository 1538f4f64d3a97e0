import FerccIR

/// Folds BatchNorm into the weights and bias of the Conv2D (regular, grouped, depthwise), Gemm
/// or 2-D MatMul by constant weights before it; a BatchNorm with nothing to fold into becomes a per-channel Mul and
/// Add; and a
/// per-channel Mul or Add by a constant right after a Conv2D/Gemm (what TF exporters leave for
/// BatchNorm, and what the previous rule makes) is folded the same way.
struct FoldBatchNorm: GraphPass {
    let name = "fold-batchnorm"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        while try foldOnce(&graph) { changes += 1 }
        graph.removeDeadCode()
        return changes
    }

    /// Scale and shift of a BatchNorm: y = x * scale + shift.
    static func affine(_ g: Graph, _ node: Node, epsilon: Float) -> ([Double], [Double])? {
        let p = node.inputs[1...].map { g.values[$0]?.constant?.floats }
        guard p.allSatisfy({ $0 != nil }) else { return nil }
        let a = batchNormScaleShift(gamma: p[0]!, beta: p[1]!, mean: p[2]!, variance: p[3]!, epsilon: epsilon)
        return (a.scale, a.shift)
    }

    func foldOnce(_ g: inout Graph) throws -> Bool {
        let producers = g.producers()
        for (i, node) in g.nodes.enumerated() where g.isFloat(node.outputs[0]) {
            switch node.op {
            case .batchNorm(let axis, let eps):
                guard let (scale, shift) = Self.affine(g, node, epsilon: eps) else { continue }
                let x = node.inputs[0]
                if let pi = producers[x], g.soleConsumer(of: x) == i,
                    try foldAffine(&g, producer: pi, channelAxis: axis, scale: scale, shift: shift)
                {
                    g.removeNode(i, forwardingOutputTo: pi)
                    return true
                }
                // Nothing to fold into: a per-channel scale and shift.
                let rank = g.values[x]!.type.rank
                let shape = [scale.count] + [Int](repeating: 1, count: rank - 1 - axis)
                let sName = g.freshName("\(node.name)#scale"), tName = g.freshName("\(node.name)#shift")
                g.addConstant(sName, .float(scale.map { Float($0) }), shape: shape)
                g.addConstant(tName, .float(shift.map { Float($0) }), shape: shape)
                let mid = g.freshName("\(node.outputs[0])#scaled")
                let out = node.outputs[0]
                g.nodes.remove(at: i)
                try g.insert(
                    Node(name: "\(node.name)#mul", op: .binary(.mul), inputs: [x, sName], outputs: [mid]), at: i)
                try g.insert(
                    Node(name: "\(node.name)#add", op: .binary(.add), inputs: [mid, tName], outputs: [out]), at: i + 1)
                return true
            case .binary(let op, .identity) where op == .mul || op == .add:
                let (x, c) =
                    g.values[node.inputs[1]]!.isConstant
                    ? (node.inputs[0], node.inputs[1]) : (node.inputs[1], node.inputs[0])
                guard let cv = g.values[c], let data = cv.constant, !g.values[x]!.isConstant,
                    let pi = producers[x], g.soleConsumer(of: x) == i
                else { continue }
                let xt = g.values[x]!.type
                // The constant must vary along the last axis only (NHWC channels / Gemm columns).
                let channels = xt.shape.last ?? 1
                guard cv.type.count == channels || cv.type.count == 1,
                    cv.type.shape.dropLast().allSatisfy({ $0 == 1 }), cv.type.rank <= xt.rank,
                    g.values[node.outputs[0]]!.type.shape == xt.shape
                else { continue }
                let values = data.floats.map { Double($0) }
                let per = cv.type.count == 1 ? [Double](repeating: values[0], count: channels) : values
                let scale = op == .mul ? per : [Double](repeating: 1, count: channels)
                let shift = op == .add ? per : [Double](repeating: 0, count: channels)
                if try foldAffine(&g, producer: pi, channelAxis: xt.rank - 1, scale: scale, shift: shift) {
                    g.removeNode(i, forwardingOutputTo: pi)
                    return true
                }
            default:
                continue
            }
        }
        return false
    }

    /// Folds y = x * scale[c] + shift[c] into the op at `producer` when it is a float Conv2D or
    /// Gemm with constant weights, no fused activation, and channels on `channelAxis`.
    func foldAffine(_ g: inout Graph, producer pi: Int, channelAxis: Int, scale: [Double], shift: [Double]) throws
        -> Bool
    {
        let p = g.nodes[pi]
        switch p.op {
        case .conv2D(let conv) where conv.activation == .identity:
            guard channelAxis == 3, let w = g.values[p.inputs[1]]?.constant?.floats else { return false }
            let wShape = g.values[p.inputs[1]]!.type.shape
            let outC = wShape[0]
            guard scale.count == outC else { return false }
            let per = w.count / outC
            var nw = w
            for o in 0..<outC { for k in 0..<per { nw[o * per + k] = Float(Double(w[o * per + k]) * scale[o]) } }
            let bias = p.inputs.count > 2 ? g.values[p.inputs[2]]?.constant?.floats : [Float](repeating: 0, count: outC)
            guard let b = bias else { return false }
            let nb = (0..<outC).map { Float(Double(b[$0]) * scale[$0] + shift[$0]) }
            setConstants(&g, pi, weights: nw, weightShape: wShape, bias: nb)
            return true
        case .gemm(let gm) where gm.activation == .identity:
            guard channelAxis == 1, let w = g.values[p.inputs[1]]?.constant?.floats else { return false }
            let wShape = g.values[p.inputs[1]]!.type.shape
            let n = gm.transB ? wShape[0] : wShape[1]
            guard scale.count == n else { return false }
            var nw = w
            for i in 0..<w.count {
                let col = gm.transB ? i / wShape[1] : i % wShape[1]
                nw[i] = Float(Double(w[i]) * scale[col])
            }
            var c = [Float](repeating: 0, count: n)
            if p.inputs.count > 2 {
                guard let cv = g.values[p.inputs[2]], let cd = cv.constant?.floats,
                    cv.type.count == n || cv.type.count == 1
                else { return false }
                c = cv.type.count == 1 ? [Float](repeating: cd[0], count: n) : cd
                c = c.map { $0 * gm.beta }
            }
            let nb = (0..<n).map { Float(Double(c[$0]) * scale[$0] + shift[$0]) }
            var ngm = gm
            ngm.beta = 1
            g.nodes[pi].op = .gemm(ngm)
            setConstants(&g, pi, weights: nw, weightShape: wShape, bias: nb)
            return true
        case .matMul:
            // A 2-D MatMul by constant weights is a Gemm without bias: fold into a Gemm with one.
            guard channelAxis == 1, g.values[p.inputs[0]]!.type.rank == 2, let bv = g.values[p.inputs[1]],
                bv.type.rank == 2,
                let w = bv.constant?.floats, scale.count == bv.type.shape[1]
            else { return false }
            let n = bv.type.shape[1]
            let nw = (0..<w.count).map { Float(Double(w[$0]) * scale[$0 % n]) }
            g.nodes[pi].op = .gemm(Gemm())
            setConstants(&g, pi, weights: nw, weightShape: bv.type.shape, bias: shift.map { Float($0) })
            return true
        default:
            return false
        }
    }

    /// New constants for node `pi`'s weights (input 1) and bias (input 2, added when absent).
    func setConstants(_ g: inout Graph, _ pi: Int, weights: [Float], weightShape: [Int], bias: [Float]) {
        let base = g.nodes[pi].name
        let w = g.freshName("\(base)#weights"), b = g.freshName("\(base)#bias")
        g.addConstant(w, .float(weights), shape: weightShape)
        g.addConstant(b, .float(bias), shape: [bias.count])
        g.nodes[pi].inputs[1] = w
        if g.nodes[pi].inputs.count > 2 { g.nodes[pi].inputs[2] = b } else { g.nodes[pi].inputs.append(b) }
    }
}
