import FerccIR

/// A depthwise Conv2D (with its fused activation) whose only reader is a 1x1 stride-1 Conv2D
/// becomes one DepthwisePointwise op, whose kernel never writes the depthwise output whole:
/// float pairs, and int8 pairs (the depthwise result's quantization kept in the op; the int8
/// kernel computes exactly what the two convolutions do). Notes say why the other depthwise
/// convolutions were not fused.
struct FuseDepthwisePointwise: GraphPass {
    let name = "fuse-depthwise-pointwise"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var reasons: [String: Int] = [:]
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            let dwNode = graph.nodes[i]
            guard case .conv2D(let dw) = dwNode.op, isDepthwise(graph, dwNode, dw) else { continue }
            let mid = dwNode.outputs[0]
            func skip(_ why: String) { reasons[why, default: 0] += 1 }
            let quantized = graph.values[mid]?.type.dtype == .int8
            guard graph.isFloat(mid) || quantized else { skip("uint8"); continue }
            if quantized {
                let types = [dwNode.inputs[0], mid].map { graph.values[$0]!.type }
                guard types.allSatisfy({ $0.dtype == .int8 && $0.quantization?.scales.count == 1 }) else { skip("int8 without per-tensor quantization"); continue }
            }
            guard let pi = graph.soleConsumer(of: mid) else { skip("the depthwise output has several readers or is a graph output"); continue }
            guard case .conv2D(let pw) = graph.nodes[pi].op, graph.nodes[pi].inputs[0] == mid else { skip("the next op is \(graph.nodes[pi].op.name), not a convolution"); continue }
            if quantized {
                guard graph.values[graph.nodes[pi].outputs[0]]?.type.dtype == .int8 else { skip("the int8 depthwise output feeds a float convolution"); continue }
            }
            guard pw.kernelH == 1, pw.kernelW == 1, pw.strideH == 1, pw.strideW == 1, pw.groups == 1,
                  pw.padTop + pw.padLeft + pw.padBottom + pw.padRight == 0 else { skip("the next convolution is not 1x1, stride 1, ungrouped"); continue }
            let params = [dwNode.inputs[1], graph.nodes[pi].inputs[1]]
            guard params.allSatisfy({ graph.values[$0]?.isConstant == true }) else { skip("weights computed at run time"); continue }
            let dwBias = try bias(&graph, dwNode, channels: graph.values[dwNode.inputs[1]]!.type.shape[0], int32: quantized)
            let pwBias = try bias(&graph, graph.nodes[pi], channels: graph.values[graph.nodes[pi].inputs[1]]!.type.shape[0], int32: quantized)
            let intermediate = quantized ? graph.values[mid]!.type.quantization : nil
            let fused = Node(name: "\(dwNode.name)+\(graph.nodes[pi].name)", op: .depthwisePointwise(depthwise: dw, pointwise: pw, intermediate: intermediate),
                             inputs: [dwNode.inputs[0], dwNode.inputs[1], dwBias, graph.nodes[pi].inputs[1], pwBias],
                             outputs: graph.nodes[pi].outputs)
            graph.nodes[pi] = fused
            graph.nodes.remove(at: i)
            graph.values[mid] = nil
            i -= 1
            changes += 1
        }
        for (why, n) in reasons.sorted(by: { $0.key < $1.key }) { notes.append("\(n) not fused: \(why)") }
        return changes
    }

    func isDepthwise(_ g: Graph, _ node: Node, _ c: Conv2D) -> Bool {
        guard let w = g.values[node.inputs[1]]?.type.shape, let x = g.values[node.inputs[0]]?.type.shape, w.count == 4, x.count == 4 else { return false }
        return c.groups > 1 && c.groups == x[3] && w[0] == x[3] && w[3] == 1
    }

    /// The node's bias input, or a zero constant (float, or int32 for int8 nodes) when it has none.
    func bias(_ g: inout Graph, _ node: Node, channels: Int, int32: Bool) throws -> String {
        if node.inputs.count > 2 { return node.inputs[2] }
        let name = g.freshName("\(node.name)#zero_bias")
        g.addConstant(name, int32 ? .int32([Int32](repeating: 0, count: channels)) : .float([Float](repeating: 0, count: channels)), shape: [channels])
        return name
    }
}
