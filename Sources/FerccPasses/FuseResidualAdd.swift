import FerccIR

/// A float Add (with its activation) of a fused DepthwisePointwise or ExpandDepthwisePointwise
/// output, read only by the Add, and another tensor of the same shape (MobileNetV2's residual
/// blocks), or a zero Pad of only the channel axis's end of one read only by the Add (BlazeFace's
/// widening shortcuts), becomes the fused op's residual add: its kernel adds each band of output
/// rows while they are in cache, so the Add's and the Pad's tensors are never written. Runs after
/// the depthwise fusions.
struct FuseResidualAdd: GraphPass {
    let name = "fuse-residual-add"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var reasons: [String: Int] = [:]
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            guard case .binary(.add, let activation) = graph.nodes[i].op, graph.isFloat(graph.nodes[i].outputs[0])
            else { continue }
            let add = graph.nodes[i]
            let producers = graph.producers()
            // The operand a fused convolution without a residual makes, read only by this Add.
            let g = graph
            guard
                let k = add.inputs.indices.first(where: { k in
                    guard let p = producers[add.inputs[k]], Self.fusable(g.nodes[p].op) else { return false }
                    // (An Add of the output to itself has no other tensor to take.)
                    return g.isFloat(add.inputs[k]) && g.soleConsumer(of: add.inputs[k]) == i
                        && add.inputs[0] != add.inputs[1]
                })
            else { continue }
            let ci = producers[add.inputs[k]]!, other = add.inputs[1 - k]
            func skip(_ why: String) { reasons[why, default: 0] += 1 }
            let out = graph.values[add.outputs[0]]!.type, conv = graph.values[graph.nodes[ci].outputs[0]]!.type
            guard conv.shape == out.shape, out.rank == 4 else { skip("the add broadcasts"); continue }
            var residual = other
            var padIndex: Int?
            if let pi = producers[other], case .pad(let pads, 0) = graph.nodes[pi].op, pads.count == 8,
                pads.enumerated().allSatisfy({ $0.offset == 7 ? $0.element > 0 : $0.element == 0 }),
                graph.soleConsumer(of: other) == i
            {
                residual = graph.nodes[pi].inputs[0]
                padIndex = pi
            }
            guard let r = graph.values[residual]?.type, r.dtype == .float32, r.rank == 4,
                Array(r.shape[0..<3]) == Array(out.shape[0..<3]), r.shape[3] <= out.shape[3],
                residual == other ? r.shape == out.shape : true
            else { skip("the other operand is not the output's shape or a channel pad of it"); continue }
            var fused = graph.nodes[ci]
            switch fused.op {
            case .depthwisePointwise(let dw, let pw, let q, nil):
                fused.op = .depthwisePointwise(depthwise: dw, pointwise: pw, intermediate: q, residual: activation)
            case .expandDepthwisePointwise(let ex, let dw, let pw, nil):
                fused.op = .expandDepthwisePointwise(expand: ex, depthwise: dw, pointwise: pw, residual: activation)
            default: continue
            }
            // The fused op takes the Add's place (every input of both is computed before it).
            let mid = fused.outputs[0]
            fused.name = "\(fused.name)+\(add.name)"
            fused.inputs.append(residual)
            fused.outputs = add.outputs
            graph.nodes[i] = fused
            graph.values[mid] = nil
            var removed = [ci]
            if let pi = padIndex {
                graph.values[other] = nil
                removed.append(pi)
            }
            for k in removed.sorted(by: >) { graph.nodes.remove(at: k) }
            i -= removed.count
            changes += 1
        }
        for (why, n) in reasons.sorted(by: { $0.key < $1.key }) { notes.append("\(n) not fused: \(why)") }
        return changes
    }

    /// A float fused convolution that has no residual add yet.
    static func fusable(_ op: Op) -> Bool {
        switch op {
        case .depthwisePointwise(_, _, nil, nil), .expandDepthwisePointwise(_, _, _, nil): return true
        default: return false
        }
    }
}
