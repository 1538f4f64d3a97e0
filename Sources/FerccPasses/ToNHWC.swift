import FerccIR

/// Removes the layout transposes the ONNX importer puts around spatial ops: transposes are sunk
/// through layout-agnostic ops (whose axes are remapped and whose constant operands are
/// permuted), adjacent transposes are composed (and vanish when they cancel), and a transpose
/// that only moves size-1 axes becomes a reshape, merged with the reshapes around it.
struct ToNHWC: GraphPass {
    let name = "to-nhwc"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var rounds = 0
        while try rewriteOnce(&graph) {
            changes += 1
            rounds += 1
            if rounds > 100_000 { throw FerccError("to-nhwc did not converge") }
        }
        graph.removeDeadCode()
        return changes
    }

    func rewriteOnce(_ g: inout Graph) throws -> Bool {
        let producers = g.producers()
        for ci in g.nodes.indices {
            let c = g.nodes[ci]
            switch c.op {
            case .transpose(let p2):
                // Transpose of a transpose: compose.
                if let pi = producers[c.inputs[0]], case .transpose(let p1) = g.nodes[pi].op {
                    let composed = p2.map { p1[$0] }
                    let source = g.nodes[pi].inputs[0]
                    if composed == Array(0..<composed.count) {
                        bypass(&g, ci, with: source)
                    } else {
                        g.nodes[ci].op = .transpose(perm: composed)
                        g.nodes[ci].inputs[0] = source
                    }
                    return true
                }
                // A transpose that keeps the order of the axes longer than 1 moves no data.
                let shape = g.values[c.inputs[0]]!.type.shape
                let moved = p2.filter { shape[$0] != 1 }
                if moved == moved.sorted() {
                    g.nodes[ci].op = .reshape(shape: p2.map { shape[$0] })
                    return true
                }
            case .reshape(let target):
                if let pi = producers[c.inputs[0]], case .reshape = g.nodes[pi].op {
                    g.nodes[ci].inputs[0] = g.nodes[pi].inputs[0]
                    return true
                }
                if g.values[c.inputs[0]]!.type.shape == target {
                    bypass(&g, ci, with: c.inputs[0])
                    return true
                }
            default:
                if try sink(&g, ci, producers) { return true }
            }
        }
        return false
    }

    /// Readers of node `index`'s output read `source` instead; the node goes (a graph output
    /// keeps its name through an identity).
    func bypass(_ g: inout Graph, _ index: Int, with source: String) {
        let out = g.nodes[index].outputs[0]
        if g.outputs.contains(out) {
            g.nodes[index].op = .unary(.identity)
            g.nodes[index].inputs = [source]
        } else {
            g.replaceUses(of: out, with: source)
            g.nodes.remove(at: index)
            g.values[out] = nil
        }
    }

    /// Moves the transposes feeding node `ci` (all with one permutation) after it.
    func sink(_ g: inout Graph, _ ci: Int, _ producers: [String: Int]) throws -> Bool {
        let c = g.nodes[ci]
        var perm: [Int]?
        var newInputs: [String] = []
        var sawTranspose = false
        for input in c.inputs {
            let v = g.values[input]!
            if let pi = producers[input], case .transpose(let p) = g.nodes[pi].op {
                if let q = perm, q != p { return false }
                perm = p
                sawTranspose = true
                newInputs.append(g.nodes[pi].inputs[0])
            } else if v.isConstant {
                newInputs.append(input)  // permuted below once the permutation is known
            } else {
                return false
            }
        }
        guard sawTranspose, let p = perm else { return false }
        let rank = p.count
        let inv = inversePermutation(p)
        // The op on the untransposed inputs, and the permutation its outputs need.
        var op: Op
        var outPerm = p
        switch c.op {
        case .unary, .quantize, .dequantize, .binary, .prelu:
            op = c.op
        case .batchNorm(let axis, let eps):
            op = .batchNorm(axis: p[axis], epsilon: eps)
        case .softmax(let axis, let beta):
            op = .softmax(axis: p[axis], beta: beta)
        case .concat(let axis):
            op = .concat(axis: p[axis])
        case .split(let axis, let sizes):
            op = .split(axis: p[axis], sizes: sizes)
        case .channelShuffle(let groups, let axis):
            op = .channelShuffle(groups: groups, axis: p[axis])
        case .slice(let s):
            var n = Slice(starts: s.starts, steps: s.steps, sizes: s.sizes)
            for i in 0..<rank { n.starts[p[i]] = s.starts[i]; n.steps[p[i]] = s.steps[i]; n.sizes[p[i]] = s.sizes[i] }
            op = .slice(n)
        case .pad(let pads, let value):
            var n = pads
            for i in 0..<rank { n[p[i]] = pads[i]; n[p[i] + rank] = pads[i + rank] }
            op = .pad(pads: n, value: value)
        case .reduce(let kind, let axes, let keep):
            let newAxes = axes.map { p[$0] }.sorted()
            op = .reduce(kind, axes: newAxes, keepDims: keep)
            if !keep {
                let kept = (0..<rank).filter { !axes.contains($0) }
                let keptX = kept.map { p[$0] }.sorted()
                outPerm = kept.map { keptX.firstIndex(of: p[$0])! }
            }
        default:
            return false
        }
        // Elementwise constant operands: aligned to the full rank, then permuted into the
        // untransposed layout (per-channel parameters such as BatchNorm's stay as they are).
        var permutesConstants = false
        switch c.op {
        case .binary, .prelu, .concat: permutesConstants = true
        default: break
        }
        for (k, input) in c.inputs.enumerated() where newInputs[k] == input && permutesConstants {
            let v = g.values[input]!
            guard v.type.rank <= rank else { return false }
            if v.type.count == 1 && v.type.rank <= 1 { continue }
            let aligned = [Int](repeating: 1, count: rank - v.type.rank) + v.type.shape
            let name = g.freshName("\(input)#permuted")
            g.values[name] = Value(
                name: name, type: TensorType(v.type.dtype, inv.map { aligned[$0] }, quantization: v.type.quantization),
                constant: v.constant!.permuted(shape: aligned, perm: inv))
            newInputs[k] = name
        }
        // Replace c by the op on the sources, followed by one transpose per output.
        let temps = c.outputs.map { g.freshName("\($0)#untransposed") }
        g.nodes.remove(at: ci)
        try g.insert(Node(name: c.name, op: op, inputs: newInputs, outputs: temps), at: ci, quantizationLike: c.outputs)
        for (k, (t, out)) in zip(temps, c.outputs).enumerated() {
            try g.insert(
                Node(name: "\(out)#transpose", op: .transpose(perm: outPerm), inputs: [t], outputs: [out]),
                at: ci + 1 + k, quantizationLike: [out])
        }
        return true
    }
}
