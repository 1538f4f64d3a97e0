import FerccIR

/// ReduceMean and ReduceMax, with axes as an attribute (before opset 18) or an input (from 18).
let reduceImporters: [String: ONNXImporter.OpImporter] = [
    "ReduceMean": { node, ctx in try importReduce(node, ctx, .mean) },
    "ReduceMax": { node, ctx in try importReduce(node, ctx, .max) }
]

func importReduce(_ node: ONNXNode, _ ctx: ONNXImportContext, _ kind: ReduceKind) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let rank = try ctx.type(x).rank
    var axes: [Int]?
    if ctx.opset >= 18 {
        if let a = node.input(1) {
            guard let v = ctx.constant(a)?.int64s else { throw FerccError("\(node.opType) axes must be constant") }
            axes = v.map { Int($0) }
        }
    } else {
        axes = try node.ints("axes")
    }
    if axes?.isEmpty ?? true {
        if ctx.opset >= 18, try node.int("noop_with_empty_axes", 0) != 0 {
            ctx.alias(node.outputs[0], to: x)
            return
        }
        axes = Array(0..<rank)
    }
    let normalized = try axes!.map { try ShapeImport.normalizeAxis($0, rank: rank) }.sorted()
    guard Set(normalized).count == normalized.count else { throw FerccError("\(node.opType) axes repeat") }
    try ctx.emit(
        .reduce(kind, axes: normalized, keepDims: try node.int("keepdims", 1) != 0), inputs: [x],
        outputs: [node.outputs[0]])
}

/// Notes for the supported-op table (docs/ops.md).
let reduceNotes: [String: String] = [
    "ReduceMax": "axes as attribute (< 18) or constant input (>= 18), keepdims",
    "ReduceMean": "axes as attribute (< 18) or constant input (>= 18), keepdims, noop_with_empty_axes"
]
