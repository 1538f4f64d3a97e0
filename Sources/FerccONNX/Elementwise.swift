import FerccIR

/// Add, Sub, Mul, Div with numpy broadcasting (constant operands folded before this is reached).
let elementwiseImporters: [String: ONNXImporter.OpImporter] = [
    "Add": { node, ctx in try binary(node, ctx, .add) },
    "Sub": { node, ctx in try binary(node, ctx, .sub) },
    "Mul": { node, ctx in try binary(node, ctx, .mul) },
    "Div": { node, ctx in try binary(node, ctx, .div) }
]

func binary(_ node: ONNXNode, _ ctx: ONNXImportContext, _ op: BinaryOp) throws {
    let a = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let b = try ctx.value(try ShapeFolding.requireInput(node, 1))
    for name in [a, b] where ctx.graph.values[name]!.type.dtype != .float32 {
        throw FerccError(
            "\(node.opType) on \(ctx.graph.values[name]!.type.dtype.rawValue) values computed at run time is not "
                + "supported"
        )
    }
    try ctx.emit(.binary(op), inputs: [a, b], outputs: [node.outputs[0]])
}

/// Notes for the supported-op table (docs/ops.md).
let elementwiseNotes: [String: String] = [
    "Add": "numpy broadcasting",
    "Div": "numpy broadcasting",
    "Mul": "numpy broadcasting",
    "Sub": "numpy broadcasting"
]
