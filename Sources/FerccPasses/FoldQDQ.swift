import FerccIR
import FerccLowering
import FerccRuntime

/// QDQ models (onnxruntime's quantize_static) compute every quantized op in float between a
/// dequantize of its int8 inputs and a quantize of its output. This pass turns such a float op
/// into the int8 op itself: int8 inputs, weights re-quantized symmetric per output channel
/// (max |w| / 127, which recovers the model's int8 weights exactly when it was quantized that
/// way), int32 bias at input scale x weight scale, and the quantize's output parameters. Element
/// moves between a dequantize and a quantize with the same parameters become int8 moves. What
/// has no int8 kernel stays float between its dequantize and quantize.
struct FoldQDQ: GraphPass {
    let name = "fold-qdq"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = sinkDequantizes(&graph)
        var reasons: [String: Int] = [:]
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            let node = graph.nodes[i]
            guard isCandidate(node.op), node.outputs.count == 1, graph.isFloat(node.outputs[0]) else { continue }
            let producers = graph.producers()
            // Every activation input comes from a dequantize of an int8 value.
            var int8Inputs: [String] = []
            var ok = true
            for input in node.inputs {
                if graph.values[input]?.isConstant == true { int8Inputs.append(input); continue }
                guard let p = producers[input], case .dequantize = graph.nodes[p].op,
                    graph.values[graph.nodes[p].inputs[0]]?.type.dtype == .int8
                else { ok = false; break }
                int8Inputs.append(graph.nodes[p].inputs[0])
            }
            guard ok else { continue }
            // The output is read only by quantize nodes with one set of parameters.
            let out = node.outputs[0]
            guard !graph.outputs.contains(out) else { continue }
            let readers = graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(out) }
            guard !readers.isEmpty,
                readers.allSatisfy({
                    if case .quantize(.int8) = graph.nodes[$0].op { return true } else { return false }
                }),
                readers.allSatisfy({ !graph.outputs.contains(graph.nodes[$0].outputs[0]) })
            else { continue }
            let qs = readers.map { graph.values[graph.nodes[$0].outputs[0]]!.type.quantization }
            guard let q = qs[0], qs.allSatisfy({ $0 == q }) else { continue }

            var candidate = graph
            let newOut = candidate.freshName(out + "#int8")
            var inputs = int8Inputs
            switch node.op {
            case .conv2D, .gemm:
                guard let xq = candidate.values[inputs[0]]?.type.quantization,
                    let w = constant(candidate, node.inputs[1])
                else {
                    reasons["weights computed at run time"] = (reasons["weights computed at run time"] ?? 0) + 1;
                    continue
                }
                var weights = w
                var wShape = candidate.values[node.inputs[1]]!.type.shape
                var op = node.op
                if case .gemm(let g) = node.op {
                    guard !g.transA, g.alpha == 1, wShape.count == 2 else { continue }
                    if !g.transB {
                        weights = transposed2D(w, rows: wShape[0], cols: wShape[1])
                        wShape = [wShape[1], wShape[0]]
                    }
                    op = .gemm(Gemm(transB: true, activation: g.activation))
                    if node.inputs.count > 2, g.beta != 1 { continue }
                }
                let (wq, wQuant) = WeightQuantization.symmetric(weights, slices: wShape[0])
                let wName = candidate.freshName(node.inputs[1] + "#int8")
                candidate.addConstant(wName, .int8(wq), shape: wShape)
                candidate.values[wName]!.type.quantization = wQuant
                inputs[1] = wName
                if node.inputs.count > 2 {
                    guard let b = constant(candidate, node.inputs[2]), b.count == wShape[0] else { continue }
                    let (bq, bQuant) = WeightQuantization.bias(b, inputScale: xq.scale, weightScales: wQuant.scales)
                    let bName = candidate.freshName(node.inputs[2] + "#int8")
                    candidate.addConstant(bName, .int32(bq), shape: [bq.count])
                    candidate.values[bName]!.type.quantization = bQuant
                    inputs[2] = bName
                }
                candidate.nodes[i] = Node(name: node.name, op: op, inputs: inputs, outputs: [newOut])
            case .reshape, .transpose, .slice, .channelShuffle, .pad:
                // Element moves only when the parameters do not change.
                guard candidate.values[inputs[0]]?.type.quantization == q else {
                    reasons["element move changing parameters"] =
                        (reasons["element move changing parameters"] ?? 0) + 1;
                    continue
                }
                candidate.nodes[i] = Node(name: node.name, op: node.op, inputs: inputs, outputs: [newOut])
            default:
                guard inputs.allSatisfy({ candidate.values[$0]?.isConstant == false }) else { continue }
                candidate.nodes[i] = Node(name: node.name, op: node.op, inputs: inputs, outputs: [newOut])
            }
            let inTypes = candidate.nodes[i].inputs.map { candidate.values[$0]!.type }
            guard
                var t = try? ShapeInference.infer(
                    candidate.nodes[i].op, inputs: inTypes,
                    constants: candidate.nodes[i].inputs.map { candidate.values[$0]?.constant })[0]
            else { continue }
            t.quantization = q
            candidate.values[newOut] = Value(name: newOut, type: t)
            // Only if the int8 kernels take it (pooling needs equal parameters, softmax 1/256, ...);
            // element moves run on any element type.
            if !isElementMove(node.op) {
                do {
                    try Lowering.check(candidate.nodes[i], in: candidate)
                } catch let e as FerccError {
                    reasons["\(node.op.name): \(e.reason)", default: 0] += 1
                    continue
                } catch {
                    continue
                }
            }
            // The quantize nodes become the int8 value itself.
            for r in readers.sorted(by: >) {
                candidate.replaceUses(of: candidate.nodes[r].outputs[0], with: newOut)
            }
            candidate.removeDeadCode()
            graph = candidate
            changes += 1
            i = -1  // indices moved; rescan (graphs are small)
        }
        for (why, n) in reasons.sorted(by: { $0.key < $1.key }) { notes.append("\(n) left float: \(why)") }
        return changes
    }

    /// dequantize -> element move becomes element move (on int8) -> dequantize, so that the ops
    /// after the move see their dequantize directly (to-nhwc leaves layout transposes there). The
    /// original dequantize stays for its other readers.
    func sinkDequantizes(_ graph: inout Graph) -> Int {
        var changes = 0
        var mi = 0
        while mi < graph.nodes.count {
            defer { mi += 1 }
            let move = graph.nodes[mi]
            guard isElementMove(move.op), move.outputs.count == 1 else { continue }
            if case .pad = move.op { continue }  // the fill value would need requantizing
            guard let di = graph.producers()[move.inputs[0]], case .dequantize = graph.nodes[di].op,
                let xq = graph.values[graph.nodes[di].inputs[0]]?.type, xq.dtype == .int8,
                move.inputs.dropFirst().allSatisfy({ graph.values[$0]?.isConstant == true })
            else { continue }
            let dq = graph.nodes[di]
            let moved = graph.freshName(move.outputs[0] + "#int8")
            let inTypes = [xq] + move.inputs.dropFirst().map { graph.values[$0]!.type }
            guard
                var t = try? ShapeInference.infer(
                    move.op, inputs: inTypes,
                    constants: [nil] + move.inputs.dropFirst().map { graph.values[$0]?.constant })[0]
            else { continue }
            t.quantization = xq.quantization
            graph.values[moved] = Value(name: moved, type: t)
            graph.nodes[mi] = Node(
                name: move.name, op: move.op, inputs: [dq.inputs[0]] + move.inputs.dropFirst(), outputs: [moved])
            graph.nodes.insert(
                Node(name: dq.name + "#" + move.name, op: .dequantize, inputs: [moved], outputs: move.outputs),
                at: mi + 1)
            changes += 1
        }
        if changes > 0 { graph.removeDeadCode() }
        return changes
    }

    func isCandidate(_ op: Op) -> Bool {
        switch op {
        case .conv2D, .gemm, .binary(.add, _), .binary(.sub, _), .binary(.mul, _), .maxPool2D, .averagePool2D,
            .reduce(.mean, _, _), .concat,
            .softmax, .unary(.sigmoid), .unary(.tanh), .unary(.hardSwish), .reshape, .transpose, .slice,
            .channelShuffle, .pad:
            return true
        default:
            return false
        }
    }

    func isElementMove(_ op: Op) -> Bool {
        switch op {
        case .reshape, .transpose, .slice, .channelShuffle, .pad: return true
        default: return false
        }
    }

    func constant(_ g: Graph, _ name: String) -> [Float]? {
        guard case .float(let v)? = g.values[name]?.constant else { return nil }
        return v
    }
}
