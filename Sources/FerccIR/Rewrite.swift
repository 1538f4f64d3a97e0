/// Helpers for passes that rewrite a graph in place, keeping nodes in topological order.
extension Graph {
    /// A value name not used yet, derived from `base`.
    public func freshName(_ base: String) -> String {
        if values[base] == nil { return base }
        var i = 1
        while values["\(base)_\(i)"] != nil { i += 1 }
        return "\(base)_\(i)"
    }

    /// Index of the node that writes each value.
    public func producers() -> [String: Int] {
        var map: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs { map[o] = i } }
        return map
    }

    /// Every read of `old` reads `new` instead (graph outputs keep their names: the caller handles them).
    public mutating func replaceUses(of old: String, with new: String) {
        for i in nodes.indices {
            for j in nodes[i].inputs.indices where nodes[i].inputs[j] == old { nodes[i].inputs[j] = new }
        }
    }

    /// Peak bytes of activations alive at once when the nodes run in order (graph inputs from the
    /// start, every value until its last reader, outputs to the end; constants not counted).
    public func peakActivationBytes() -> Int {
        var lastUse: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for input in n.inputs { lastUse[input] = i } }
        for o in outputs { lastUse[o] = nodes.count }
        func bytes(_ name: String) -> Int {
            guard let v = values[name], !v.isConstant else { return 0 }
            return v.type.count * v.type.dtype.byteSize
        }
        var live = inputs.reduce(0) { $0 + bytes($1) }
        var peak = live
        for (i, n) in nodes.enumerated() {
            live += n.outputs.reduce(0) { $0 + bytes($1) }
            peak = max(peak, live)
            for name in Set(n.inputs + n.outputs) where (lastUse[name] ?? -1) <= i && values[name]?.isConstant == false
            {
                live -= bytes(name)
            }
        }
        return peak
    }
}

extension TensorData {
    /// Row-major data of `shape` permuted by `perm` (output axis i is input axis perm[i]).
    public func permuted(shape: [Int], perm: [Int]) -> TensorData {
        let outShape = perm.map { shape[$0] }
        let inStrides = stridesOf(shape)
        let total = shape.reduce(1, *)
        var indices = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: shape.count)
        for o in 0..<total {
            var off = 0
            for a in 0..<perm.count { off += idx[a] * inStrides[perm[a]] }
            indices[o] = off
            var a = outShape.count - 1
            while a >= 0 {
                idx[a] += 1
                if idx[a] < outShape[a] { break }
                idx[a] = 0
                a -= 1
            }
        }
        return gather(indices)
    }
}
