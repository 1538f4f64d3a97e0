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
                guard types.allSatisfy({ $0.dtype == .int8 && $0.quantization?.scales.count == 1 }) else {
                    skip("int8 without per-tensor quantization"); continue
                }
            }
            guard let pi = graph.soleConsumer(of: mid) else {
                skip("the depthwise output has several readers or is a graph output"); continue
            }
            guard case .conv2D(let pw) = graph.nodes[pi].op, graph.nodes[pi].inputs[0] == mid else {
                skip("the next op is \(graph.nodes[pi].op.name), not a convolution"); continue
            }
            if quantized {
                guard graph.values[graph.nodes[pi].outputs[0]]?.type.dtype == .int8 else {
                    skip("the int8 depthwise output feeds a float convolution"); continue
                }
            }
            guard pw.kernelH == 1, pw.kernelW == 1, pw.strideH == 1, pw.strideW == 1, pw.groups == 1,
                pw.padTop + pw.padLeft + pw.padBottom + pw.padRight == 0
            else { skip("the next convolution is not 1x1, stride 1, ungrouped"); continue }
            let params = [dwNode.inputs[1], graph.nodes[pi].inputs[1]]
            guard params.allSatisfy({ graph.values[$0]?.isConstant == true }) else {
                skip("weights computed at run time"); continue
            }
            let dwBias = graph.biasInput(of: dwNode, int32: quantized)
            let pwBias = graph.biasInput(of: graph.nodes[pi], int32: quantized)
            let intermediate = quantized ? graph.values[mid]!.type.quantization : nil
            let fused = Node(
                name: "\(dwNode.name)+\(graph.nodes[pi].name)",
                op: .depthwisePointwise(depthwise: dw, pointwise: pw, intermediate: intermediate),
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
        guard let w = g.values[node.inputs[1]]?.type.shape, let x = g.values[node.inputs[0]]?.type.shape, w.count == 4,
            x.count == 4
        else { return false }
        return c.groups > 1 && c.groups == x[3] && w[0] == x[3] && w[3] == 1
    }
}

/// A 1x1 stride-1 float Conv2D whose only reader is a float DepthwisePointwise becomes one
/// ExpandDepthwisePointwise op (MobileNetV2's inverted residual, ShuffleNetV2's branch): its
/// kernel expands only the rows each band of the depthwise needs, so the expanded tensor is
/// never written whole. Runs after fuse-depthwise-pointwise.
struct FuseExpandDepthwisePointwise: GraphPass {
    let name = "fuse-expand-depthwise-pointwise"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var reasons: [String: Int] = [:]
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            guard case .depthwisePointwise(let dw, let pw, nil, nil) = graph.nodes[i].op,
                graph.isFloat(graph.nodes[i].outputs[0])
            else { continue }
            func skip(_ why: String) { reasons[why, default: 0] += 1 }
            let x = graph.nodes[i].inputs[0]
            guard let ei = graph.producers()[x], ei < i, case .conv2D(let ex) = graph.nodes[ei].op else {
                skip("not after a convolution"); continue
            }
            guard graph.soleConsumer(of: x) == i else {
                skip("the expansion has several readers or is a graph output"); continue
            }
            let expand = graph.nodes[ei]
            guard ex.kernelH == 1, ex.kernelW == 1, ex.strideH == 1, ex.strideW == 1, ex.groups == 1,
                ex.padTop + ex.padLeft + ex.padBottom + ex.padRight == 0
            else { skip("the convolution before is not 1x1, stride 1, ungrouped"); continue }
            guard graph.isFloat(expand.inputs[0]), graph.values[expand.inputs[0]]?.type.rank == 4,
                graph.values[expand.inputs[1]]?.isConstant == true,
                expand.inputs.count < 3 || graph.values[expand.inputs[2]]?.isConstant == true
            else { skip("the expansion is not a float convolution with constant weights"); continue }
            let exBias = graph.biasInput(of: expand, int32: false)
            let fusedNode = graph.nodes[i]
            graph.nodes[i] = Node(
                name: "\(expand.name)+\(fusedNode.name)",
                op: .expandDepthwisePointwise(expand: ex, depthwise: dw, pointwise: pw),
                inputs: [expand.inputs[0], expand.inputs[1], exBias] + fusedNode.inputs[1...],
                outputs: fusedNode.outputs)
            graph.nodes.remove(at: ei)
            graph.values[x] = nil
            i -= 1
            changes += 1
        }
        for (why, n) in reasons.sorted(by: { $0.key < $1.key }) { notes.append("\(n) not fused: \(why)") }
        return changes
    }
}
