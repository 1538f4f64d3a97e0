import FerccIR

/// Reshape -> Transpose -> Reshape that splits an axis into [groups, n/groups], swaps the two
/// and merges them back (ShuffleNet's channel shuffle; torch's NCHW form and onnx2tf's 5-D NHWC
/// form) becomes one ChannelShuffle op, which is layout-agnostic.
struct RecognizeChannelShuffle: GraphPass {
    let name = "recognize-channel-shuffle"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            guard case .reshape(let split) = graph.nodes[i].op else { continue }
            let x = graph.nodes[i].inputs[0]
            let xs = graph.values[x]!.type.shape
            guard split.count == xs.count + 1,
                let t = graph.soleConsumer(of: graph.nodes[i].outputs[0]),
                case .transpose(let perm) = graph.nodes[t].op,
                let r = graph.soleConsumer(of: graph.nodes[t].outputs[0]),
                case .reshape(let merged) = graph.nodes[r].op, merged == xs
            else { continue }
            // The split axis a: xs[a] = split[a] * split[a+1], all other axes equal.
            func splitsAxis(_ a: Int) -> Bool {
                let product: Int = split[a] * split[a + 1]
                let before: Bool = Array(split[..<a]) == Array(xs[..<a])
                let after: Bool = Array(split[(a + 2)...]) == Array(xs[(a + 1)...])
                return product == xs[a] && before && after
            }
            guard let a = (0..<xs.count).first(where: splitsAxis) else { continue }
            var swap = Array(0..<split.count)
            swap.swapAt(a, a + 1)
            guard perm == swap else { continue }
            let out = graph.nodes[r].outputs[0]
            graph.nodes[r] = Node(
                name: graph.nodes[r].name, op: .channelShuffle(groups: split[a], axis: a), inputs: [x], outputs: [out])
            changes += 1
        }
        graph.removeDeadCode()
        return changes
    }
}

/// A Concat of k tensors of one type (dtype, shape, quantization) whose only reader is a
/// ChannelShuffle of k groups on the same axis becomes one Interleave (ShuffleNetV2's block
/// ends): the concatenated tensor is never written; each input is copied once, straight into its
/// shuffled places. When the shuffled tensor is read only by Slices that cut it along the axis
/// into equal parts (ShuffleNetV2's split into the next block's two branches), those become the
/// Interleave's outputs: each input is copied once, straight into its part.
struct FuseConcatShuffle: GraphPass {
    let name = "fuse-concat-shuffle"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            guard case .channelShuffle(let groups, let axis) = graph.nodes[i].op,
                let ci = graph.producers()[graph.nodes[i].inputs[0]],
                case .concat(let concatAxis) = graph.nodes[ci].op
            else { continue }
            let concat = graph.nodes[ci], joined = concat.outputs[0]
            let q = graph.values[joined]?.type.quantization
            // Quantized: the joined and shuffled tensors (and the Slices after them) share one
            // quantization, and at most one int8 input has another (the lowering rescales it into
            // the scratch first, as Concat does; `fercc quantize`'s ShuffleNetV2 pass-through halves).
            guard let t = graph.values[concat.inputs[0]]?.type, t.dtype == .float32 || t.dtype.isQuantized,
                concatAxis == axis || concatAxis == axis - t.rank,
                concat.inputs.count == groups, groups > 1, graph.soleConsumer(of: joined) == i,
                concat.inputs.allSatisfy({ graph.values[$0]?.type.sameLayout(t) == true }),
                graph.values[graph.nodes[i].outputs[0]]?.type.quantization == q,
                concat.inputs.filter({ graph.values[$0]?.type.quantization != q }).count <= (t.dtype == .int8 ? 1 : 0)
            else { continue }
            graph.nodes[i].op = .interleave(axis: axis)
            graph.nodes[i].inputs = concat.inputs
            graph.nodes.remove(at: ci)
            graph.values[joined] = nil
            i -= 1
            splitIntoSlices(&graph, i, axis: axis, inputLength: t.shape[axis])
            changes += 1
        }
        return changes
    }

    /// Node `index`'s (an Interleave's) output becomes `parts` outputs when Slices of equal parts
    /// of `axis` (steps 1, every other axis whole) are all that read it, each part once.
    func splitIntoSlices(_ graph: inout Graph, _ index: Int, axis: Int, inputLength n: Int) {
        let y = graph.nodes[index].outputs[0]
        guard !graph.outputs.contains(y), let shape = graph.values[y]?.type.shape else { return }
        var parts: [(start: Int, node: Int)] = []
        for (j, node) in graph.nodes.enumerated() where node.inputs.contains(y) {
            guard case .slice(let s) = node.op, node.inputs == [y], s.starts.count == shape.count,
                s.steps.allSatisfy({ $0 == 1 }),
                (0..<shape.count).allSatisfy({ $0 == axis || (s.starts[$0] == 0 && s.sizes[$0] == shape[$0]) })
            else { return }
            parts.append((s.starts[axis], j))
        }
        let quantization = graph.values[y]?.type.quantization
        guard parts.count > 1, n % parts.count == 0,
            parts.allSatisfy({ graph.values[graph.nodes[$0.node].outputs[0]]?.type.quantization == quantization })
        else { return }
        let size = shape[axis] / parts.count
        parts.sort { $0.start < $1.start }
        guard parts.enumerated().allSatisfy({ $0.element.start == $0.offset * size }),
            parts.allSatisfy({ graph.values[graph.nodes[$0.node].outputs[0]]?.type.shape[axis] == size })
        else { return }
        graph.nodes[index].op = .interleave(axis: axis, parts: parts.count)
        graph.nodes[index].outputs = parts.map { graph.nodes[$0.node].outputs[0] }
        graph.values[y] = nil
        for j in parts.map(\.node).sorted(by: >) { graph.nodes.remove(at: j) }
    }
}
