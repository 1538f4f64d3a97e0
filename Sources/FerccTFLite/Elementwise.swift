import FerccIR

/// ADD, SUB, MUL, DIV with broadcasting and fused activations.
let elementwiseImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "ADD": ({ ctx in try binary(ctx, .add) }, 5),
    "SUB": ({ ctx in try binary(ctx, .sub) }, 5),
    "MUL": ({ ctx in try binary(ctx, .mul) }, 7),
    "DIV": ({ ctx in try binary(ctx, .div) }, 2)
]

func binary(_ ctx: TFLiteImportContext, _ op: BinaryOp) throws {
    let a = try ctx.value(0)
    let float = ctx.type(a).dtype == .float32
    let b = try ctx.weightValue(1, floatOp: float)
    try ctx.emit(.binary(op, activation: try ctx.fusedActivation()), inputs: [a, b], output: ctx.op.outputs[0])
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let elementwiseNotes: [String: (int8: String, note: String)] = [
    "ADD": (int8: "yes", note: "broadcasting, fused activation"),
    "DIV": (int8: "no", note: "broadcasting, fused activation"),
    "MUL": (int8: "yes", note: "broadcasting, fused activation"),
    "SUB": (int8: "yes", note: "broadcasting, fused activation")
]
