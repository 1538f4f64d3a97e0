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
