import FerccIR

/// Byte offsets of every activation in one arena, from tensor lifetimes: a value lives from the
/// node that writes it to its last reader (graph inputs from the start, outputs to the end), and
/// two values share bytes only if their lifetimes do not overlap. Reshapes alias their input.
/// Offsets are multiples of 64 bytes.
public struct ArenaPlan: Equatable {
    public var offsets: [String: Int]
    public var bytes: Int
    /// Sum of all planned activations, for the report (what the arena saves).
    public var totalBytes: Int
}

public enum ArenaPlanner {
    static let alignment = 64

    /// With `reuse` false every value keeps its own bytes (to read every value after a run).
    public static func plan(_ graph: Graph, reuse: Bool = true) -> ArenaPlan {
        // Reshape outputs alias the buffer of their (root) input.
        var root: [String: String] = [:]
        func rootOf(_ v: String) -> String { root[v].map(rootOf) ?? v }
        for n in graph.nodes {
            if case .reshape = n.op, graph.values[n.inputs[0]]?.isConstant == false { root[n.outputs[0]] = n.inputs[0] }
        }
        var first: [String: Int] = [:], last: [String: Int] = [:]
        for i in graph.inputs where graph.values[i]?.isConstant == false { first[i] = -1; last[i] = -1 }
        for (idx, n) in graph.nodes.enumerated() {
            for o in n.outputs where root[o] == nil { first[o] = idx; last[o] = idx }
            for i in n.inputs + n.outputs {
                let r = rootOf(i)
                if first[r] != nil { last[r] = max(last[r]!, idx) }
            }
        }
        for o in graph.outputs {
            let r = rootOf(o)
            if first[r] != nil { last[r] = graph.nodes.count }
        }
        if !reuse { for k in first.keys { first[k] = -1; last[k] = graph.nodes.count } }
        func size(_ v: String) -> Int {
            let t = graph.values[v]!.type
            return (t.count * t.dtype.byteSize + alignment - 1) / alignment * alignment
        }
        let buffers = first.keys.sorted {
            size($0) != size($1) ? size($0) > size($1) : (first[$0]!, $0) < (first[$1]!, $1)
        }
        var placed: [(name: String, offset: Int, size: Int)] = []
        var offsets: [String: Int] = [:]
        var arena = 0
        for b in buffers {
            let s = size(b)
            let conflicts = placed.filter { !(last[$0.name]! < first[b]! || last[b]! < first[$0.name]!) }.sorted {
                $0.offset < $1.offset
            }
            var offset = 0
            for c in conflicts {
                if offset + s <= c.offset { break }
                offset = max(offset, c.offset + c.size)
            }
            placed.append((b, offset, s))
            offsets[b] = offset
            arena = max(arena, offset + s)
        }
        for v in root.keys { offsets[v] = offsets[rootOf(v)] }
        return ArenaPlan(offsets: offsets, bytes: arena, totalBytes: buffers.reduce(0) { $0 + size($1) })
    }
}
