import FerccIR

/// Turns an ONNX model into an IR graph. Each op family lives in its own file and only
/// translates; shape arithmetic on constants is folded here so the IR holds static shapes.
public enum ONNXImporter {
    public static let supportedOpsets = 9...21

    typealias OpImporter = (ONNXNode, ONNXImportContext) throws -> Void

    /// ONNX op type -> importer. The supported-op table in docs/ops.md is generated from this.
    static let importers: [String: OpImporter] = {
        var m: [String: OpImporter] = [:]
        for (k, v) in convImporters { m[k] = v }
        for (k, v) in poolImporters { m[k] = v }
        for (k, v) in activationImporters { m[k] = v }
        for (k, v) in elementwiseImporters { m[k] = v }
        for (k, v) in matrixImporters { m[k] = v }
        for (k, v) in normalizationImporters { m[k] = v }
        for (k, v) in reduceImporters { m[k] = v }
        for (k, v) in shapeImporters { m[k] = v }
        for (k, v) in quantizationImporters { m[k] = v }
        return m
    }()

    public static var supportedOps: [String] { importers.keys.sorted() }

    /// Each supported op's notes for the supported-op table (docs/ops.md), kept beside its importer.
    public static let notes: [String: String] = {
        var m: [String: String] = [:]
        for table in [
            convNotes, poolNotes, activationNotes, elementwiseNotes, matrixNotes, normalizationNotes, reduceNotes,
            shapeNotes,
            quantizationNotes
        ] {
            for (k, v) in table { m[k] = v }
        }
        return m
    }()

    /// Ops handled only by import-time folding (constant inputs or static shapes).
    public static var foldedOps: [String] { ShapeFolding.foldOnly.sorted() }

    public static func importModel(path: String) throws -> Graph {
        let model = try ONNXReader.read(path: path)
        return try importModel(model, path: path)
    }

    public static func importModel(_ model: ONNXModel, path: String) throws -> Graph {
        do {
            return try build(model, path: path)
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    static func build(_ model: ONNXModel, path: String) throws -> Graph {
        guard let opset = model.opsets[""] else {
            throw FerccError("the model imports no ai.onnx opset")
        }
        guard supportedOpsets.contains(opset) else {
            throw FerccError(
                "opset \(opset) is not supported (fercc reads opsets \(supportedOpsets.lowerBound) to "
                    + "\(supportedOpsets.upperBound))"
            )
        }
        let g = model.graph
        try checkSupported(g.nodes)

        let ctx = ONNXImportContext(
            path: path, opset: opset,
            source: GraphSource(format: "onnx", producer: model.producer, opset: opset))
        for t in g.initializers {
            let data = try t.data.get()
            // The reader checks this for files; a model built in code must hold to it too.
            var count = 1
            for d in t.dims {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else { throw FerccError("initializer '\(t.name)' has shape \(t.dims)") }
                count = p
            }
            guard count == data.count else {
                throw FerccError(
                    "initializer '\(t.name)' holds \(data.count) values, its shape \(t.dims) needs \(count)")
            }
            ctx.addConstant(t.name, data, shape: t.dims)
        }
        for input in g.inputs where ctx.graph.values[input.name] == nil {
            ctx.graph.values[input.name] = Value(name: input.name, type: try inputType(input))
            ctx.graph.inputs.append(input.name)
        }
        guard !ctx.graph.inputs.isEmpty else { throw FerccError("the graph has no inputs") }

        for node in try topologicalOrder(g) {
            ctx.currentNode = node
            do {
                // Every op importer writes at least output 0: a node without one is malformed.
                guard let first = node.outputs.first, !first.isEmpty else {
                    throw FerccError("\(node.opType) has no output")
                }
                if try ShapeFolding.fold(node, ctx) { continue }
                guard let importer = importers[node.opType] else {
                    throw FerccError("unsupported op \(node.opType)")
                }
                try importer(node, ctx)
                for out in node.outputs where !out.isEmpty && ctx.graph.values[ctx.resolve(out)] == nil {
                    throw FerccError("output '\(out)' is not supported by fercc's \(node.opType)")
                }
            } catch let e as FerccError {
                throw e.atNode(node.displayName)
            }
        }
        ctx.currentNode = nil

        for output in g.outputs {
            guard ctx.graph.values[ctx.resolve(output.name)] != nil else {
                throw FerccError("graph output '\(output.name)' is never computed")
            }
            let resolved = ctx.resolve(output.name)
            if resolved != output.name || ctx.isConstant(output.name) {
                try ctx.emit(
                    .unary(.identity), inputs: [resolved], outputs: [output.name], name: "\(output.name)#output")
            }
            ctx.graph.outputs.append(output.name)
        }
        guard !ctx.graph.outputs.isEmpty else { throw FerccError("the graph has no outputs") }
        try checkValueInfo(g.valueInfo + g.outputs, ctx)
        ctx.graph.removeDeadCode()
        try ctx.graph.validate()
        return ctx.graph
    }

    /// One error listing every unsupported op type with the first node of each.
    static func checkSupported(_ nodes: [ONNXNode]) throws {
        var missing: [(String, String)] = []
        var seen = Set<String>()
        for n in nodes {
            let standard = n.domain.isEmpty || n.domain == "ai.onnx"
            let key = standard ? n.opType : "\(n.domain).\(n.opType)"
            if (!standard || (importers[n.opType] == nil && !ShapeFolding.foldable.contains(n.opType)))
                && seen.insert(key).inserted
            {
                missing.append((key, n.displayName))
            }
        }
        guard missing.isEmpty else {
            let list = missing.map { "\($0.0) (first at node '\($0.1)')" }.joined(separator: ", ")
            throw FerccError("unsupported ops: \(list)")
        }
    }

    static func inputType(_ v: ONNXValueInfo) throws -> TensorType {
        guard v.elemType == 1 else {
            throw FerccError("graph input '\(v.name)' is \(ONNXDataType.name(v.elemType)); fercc takes float32 inputs")
        }
        guard let dims = v.dims else { throw FerccError("graph input '\(v.name)' has no shape") }
        var shape: [Int] = []
        for (axis, d) in dims.enumerated() {
            if case .value(let n) = d, n > 0 {
                shape.append(n)
            } else if axis == 0 {
                // A symbolic batch dimension is the common export; fercc compiles batch 1.
                shape.append(1)
            } else if case .symbol(let s) = d {
                throw FerccError(
                    "graph input '\(v.name)' has the symbolic dimension '\(s)' on axis \(axis); fercc needs static "
                        + "shapes"
                )
            } else {
                throw FerccError("graph input '\(v.name)' has no size on axis \(axis); fercc needs static shapes")
            }
        }
        guard let count = checkedProduct(shape), count < 1 << 40 else {
            throw FerccError("graph input '\(v.name)' has the impossible shape \(shape)")
        }
        return TensorType(.float32, shape)
    }

    /// Nodes in dependency order (files are meant to be sorted, not all are); a cycle is an error.
    static func topologicalOrder(_ g: ONNXGraph) throws -> [ONNXNode] {
        var producer: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if producer[o] != nil { throw FerccError(node: n.displayName, "value '\(o)' is produced twice") }
                producer[o] = i
            }
        }
        var indegree = [Int](repeating: 0, count: g.nodes.count)
        var readers = [[Int]](repeating: [], count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty {
                if let p = producer[input] {
                    indegree[i] += 1
                    readers[p].append(i)
                }
            }
        }
        var ready = (0..<g.nodes.count).filter { indegree[$0] == 0 }.reversed() as [Int]
        var order: [ONNXNode] = []
        while let i = ready.popLast() {
            order.append(g.nodes[i])
            for r in readers[i].reversed() {
                indegree[r] -= 1
                if indegree[r] == 0 { ready.append(r) }
            }
        }
        if order.count < g.nodes.count {
            let stuck = (0..<g.nodes.count).first { indegree[$0] > 0 }!
            throw FerccError(node: g.nodes[stuck].displayName, "the graph has a cycle through this node")
        }
        return order
    }

    /// Shapes the file states for intermediate values must agree with what fercc inferred.
    static func checkValueInfo(_ infos: [ONNXValueInfo], _ ctx: ONNXImportContext) throws {
        for info in infos {
            guard let dims = info.dims, let v = ctx.graph.values[ctx.resolve(info.name)] else { continue }
            guard dims.count == v.type.rank else {
                throw FerccError("value '\(info.name)': the file says rank \(dims.count), fercc infers \(v.type)")
            }
            for (axis, d) in dims.enumerated() {
                if case .value(let n) = d, n > 0, axis > 0 || ctx.graph.inputs.isEmpty, n != v.type.shape[axis] {
                    throw FerccError("value '\(info.name)': the file says \(dims), fercc infers \(v.type)")
                }
            }
        }
    }
}
