import FerccIR

/// Evaluates nodes whose inputs are all constant (and Shape of any statically shaped value) at
/// import: how torch's unfolded shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> Reshape)
/// becomes static shapes. Works on int64 and float data.
enum ShapeFolding {
    static let foldable: Set<String> = [
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Add", "Sub", "Mul", "Div",
        "Cast", "Reshape", "Identity", "Flatten", "ConstantOfShape", "Constant", "Size"
    ]

    /// Ops that exist only to be folded: not in the importer table, but handled when foldable.
    static let foldOnly: Set<String> = ["Shape", "Cast", "ConstantOfShape", "Size"]

    static func fold(_ node: ONNXNode, _ ctx: ONNXImportContext) throws -> Bool {
        guard foldable.contains(node.opType) else { return false }
        let present = node.inputs.filter { !$0.isEmpty }
        let allConstant = present.allSatisfy { ctx.isConstant($0) }
        switch node.opType {
        case "Constant":
            let (data, shape) = try constantValue(node)
            try define(node, ctx, data, shape)
            return true
        case "Shape":
            let t = try ctx.type(try requireInput(node, 0))
            let rank = t.rank
            var start = try node.int("start", 0), end = try node.int("end", rank)
            if start < 0 { start += rank }
            if end < 0 { end += rank }
            start = min(max(start, 0), rank); end = min(max(end, start), rank)
            let dims = t.shape[start..<end].map { Int64($0) }
            try define(node, ctx, .int64(Array(dims)), [dims.count])
            return true
        case "Size":
            let t = try ctx.type(try requireInput(node, 0))
            try define(node, ctx, .int64([Int64(t.count)]), [])
            return true
        case "ConstantOfShape":
            guard let shapeData = ctx.constant(try requireInput(node, 0))?.int64s else {
                throw FerccError("ConstantOfShape needs a constant shape")
            }
            let shape = shapeData.map { Int($0) }
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) <= 1 << 26 else {
                throw FerccError("bad shape \(shape)")
            }
            var fill = TensorData.float([0])
            if let a = node.attributes["value"], case .tensor(let t) = a { fill = try t.data.get() }
            let n = shape.reduce(1, *)
            switch fill {
            case .float(let v): try define(node, ctx, .float([Float](repeating: v.first ?? 0, count: n)), shape)
            default: try define(node, ctx, .int64([Int64](repeating: fill.int64s?.first ?? 0, count: n)), shape)
            }
            return true
        default:
            guard allConstant, !present.isEmpty else {
                if foldOnly.contains(node.opType) {
                    throw FerccError("\(node.opType) is supported only on constants and static shapes")
                }
                return false
            }
        }
        let inputs = try present.map { name -> (TensorData, [Int]) in
            let v = ctx.graph.values[try ctx.value(name)]!
            return (v.constant!, v.type.shape)
        }
        let (data, shape) = try evaluate(node, ctx, inputs)
        try define(node, ctx, data, shape)
        return true
    }

    static func requireInput(_ node: ONNXNode, _ i: Int) throws -> String {
        guard let name = node.input(i) else { throw FerccError("\(node.opType) is missing input \(i)") }
        return name
    }

    static func define(_ node: ONNXNode, _ ctx: ONNXImportContext, _ data: TensorData, _ shape: [Int]) throws {
        guard let out = node.outputs.first, !out.isEmpty else { throw FerccError("\(node.opType) has no output") }
        guard data.count == shape.reduce(1, *) else {
            throw FerccError("folded \(node.opType) gives \(data.count) values for \(shape)")
        }
        ctx.addConstant(out, data, shape: shape)
    }

    /// The tensor of a Constant node, from whichever value attribute it has.
    static func constantValue(_ node: ONNXNode) throws -> (TensorData, [Int]) {
        if let a = node.attributes["value"] {
            guard case .tensor(let t) = a else { throw FerccError("Constant 'value' must be a tensor") }
            return (try t.data.get(), t.dims)
        }
        if let a = node.attributes["value_float"], case .float(let f) = a { return (.float([f]), []) }
        if let a = node.attributes["value_floats"], case .floats(let f) = a { return (.float(f), [f.count]) }
        if let a = node.attributes["value_int"], case .int(let i) = a { return (.int64([i]), []) }
        if let a = node.attributes["value_ints"], case .ints(let i) = a { return (.int64(i), [i.count]) }
        throw FerccError("Constant has no value fercc reads (sparse and string constants are not supported)")
    }

    static func evaluate(_ node: ONNXNode, _ ctx: ONNXImportContext, _ inputs: [(TensorData, [Int])]) throws -> (
        TensorData, [Int]
    ) {
        let (x, shape) = inputs[0]
        switch node.opType {
        case "Identity":
            return (x, shape)
        case "Cast":
            let to = try node.int("to", 1)
            switch to {
            case 1, 10, 11: return (.float(x.floats), shape)
            case 6, 7, 9, 2, 3, 5, 4, 12, 13:
                switch x {
                case .float(let v):
                    // Truncated toward zero and saturated (NaN to 0), so no float value can trap.
                    return (
                        .int64(
                            v.map {
                                !$0.isFinite || abs($0) < 9.2e18
                                    ? ($0.isNaN
                                        ? 0 : $0.isInfinite ? ($0 < 0 ? .min : .max) : Int64($0.rounded(.towardZero)))
                                    : ($0 < 0 ? .min : .max)
                            }), shape
                    )
                default: return (.int64(x.int64s ?? []), shape)
                }
            default: throw FerccError("Cast to \(ONNXDataType.name(to)) is not supported")
            }
        case "Add", "Sub", "Mul", "Div":
            guard inputs.count == 2 else { throw FerccError("\(node.opType) takes 2 inputs") }
            return try binary(node.opType, inputs[0], inputs[1])
        case "Unsqueeze", "Squeeze", "Reshape", "Flatten":
            let out = try ShapeImport.reshapeTarget(node, ctx, inputShape: shape, constants: inputs.map(\.0))
            return (x, out)
        case "Concat":
            let rank = shape.count
            var axis = try node.int("axis", 0)
            if axis < 0 { axis += rank }
            guard axis >= 0, axis < max(rank, 1) else { throw FerccError("Concat axis out of range") }
            if rank == 0 { return (concatData(inputs.map(\.0)), [inputs.count]) }
            var outShape = shape
            outShape[axis] = inputs.reduce(0) { $0 + ($1.1.count == rank ? $1.1[axis] : 0) }
            guard inputs.allSatisfy({ $0.1.count == rank }) else { throw FerccError("Concat of different ranks") }
            // Concatenate as blocks: outer = prod(shape[..<axis]).
            let outer = shape[..<axis].reduce(1, *)
            var parts: [TensorData] = []
            for o in 0..<outer {
                for (data, s) in inputs {
                    let block = s[axis...].reduce(1, *)
                    parts.append(data.gather(Array(o * block..<(o + 1) * block)))
                }
            }
            return (concatData(parts), outShape)
        case "Gather":
            guard inputs.count == 2, let idx = inputs[1].0.int64s else {
                throw FerccError("Gather needs integer indices")
            }
            let rank = shape.count
            var axis = try node.int("axis", 0)
            if axis < 0 { axis += rank }
            guard axis >= 0, axis < rank else { throw FerccError("Gather axis out of range") }
            let dim = shape[axis]
            let indices = try idx.map { i -> Int in
                let j = i < 0 ? Int(i) + dim : Int(i)
                guard j >= 0, j < dim else {
                    throw FerccError("Gather index \(i) out of range for axis of size \(dim)")
                }
                return j
            }
            let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
            var order: [Int] = []
            for o in 0..<outer { for j in indices { for i in 0..<inner { order.append((o * dim + j) * inner + i) } } }
            let outShape = Array(shape[..<axis]) + inputs[1].1 + Array(shape[(axis + 1)...])
            return (x.gather(order), outShape)
        case "Slice":
            let s = try ShapeImport.sliceParameters(node, ctx, inputShape: shape, constants: inputs.map(\.0))
            let strides = stridesOf(shape)
            var order: [Int] = []
            let total = s.sizes.reduce(1, *)
            var idx = [Int](repeating: 0, count: shape.count)
            for _ in 0..<total {
                var off = 0
                for a in 0..<shape.count { off += (s.starts[a] + idx[a] * s.steps[a]) * strides[a] }
                order.append(off)
                var a = shape.count - 1
                while a >= 0 { idx[a] += 1; if idx[a] < s.sizes[a] { break }; idx[a] = 0; a -= 1 }
            }
            return (x.gather(order), s.sizes)
        default:
            throw FerccError("cannot fold \(node.opType)")
        }
    }

    static func concatData(_ parts: [TensorData]) -> TensorData {
        if parts.allSatisfy({ if case .int64 = $0 { return true } else { return false } }) {
            return .int64(parts.flatMap { $0.int64s ?? [] })
        }
        return .float(parts.flatMap { $0.floats })
    }

    static func binary(_ op: String, _ a: (TensorData, [Int]), _ b: (TensorData, [Int])) throws -> (TensorData, [Int]) {
        guard let outShape = ShapeInference.broadcastShapes(a.1, b.1) else {
            throw FerccError("\(op): shapes \(a.1) and \(b.1) do not broadcast")
        }
        let total = outShape.reduce(1, *)
        let sa = broadcastIndex(a.1, outShape), sb = broadcastIndex(b.1, outShape)
        if case .int64(let x) = a.0, case .int64(let y) = b.0 {
            var out = [Int64](repeating: 0, count: total)
            for i in 0..<total {
                let p = x[sa[i]], q = y[sb[i]]
                switch op {
                case "Add": out[i] = p &+ q
                case "Sub": out[i] = p &- q
                case "Mul": out[i] = p &* q
                default:
                    guard q != 0 else { throw FerccError("integer division by zero") }
                    out[i] = p / q
                }
            }
            return (.int64(out), outShape)
        }
        let x = a.0.floats, y = b.0.floats
        var out = [Float](repeating: 0, count: total)
        for i in 0..<total {
            let p = x[sa[i]], q = y[sb[i]]
            switch op {
            case "Add": out[i] = p + q
            case "Sub": out[i] = p - q
            case "Mul": out[i] = p * q
            default: out[i] = p / q
            }
        }
        return (.float(out), outShape)
    }

    /// For each output element, the index of the element of `shape` that broadcasting reads.
    static func broadcastIndex(_ shape: [Int], _ outShape: [Int]) -> [Int] {
        let total = outShape.reduce(1, *)
        let rank = outShape.count
        let strides = stridesOf(shape)
        var result = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: rank)
        for o in 0..<total {
            var off = 0
            for a in 0..<shape.count {
                let oa = a + rank - shape.count
                if shape[a] != 1 { off += idx[oa] * strides[a] }
            }
            result[o] = off
            var a = rank - 1
            while a >= 0 { idx[a] += 1; if idx[a] < outShape[a] { break }; idx[a] = 0; a -= 1 }
        }
        return result
    }
}
