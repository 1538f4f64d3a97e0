import FerccIR

/// MEAN and SUM over constant axes, with keep_dims.
let reduceImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "MEAN": ({ ctx in try reduce(ctx, .mean) }, 3),
    "SUM": ({ ctx in try reduce(ctx, .sum) }, 2)
]

func reduce(_ ctx: TFLiteImportContext, _ kind: ReduceKind) throws {
    let x = try ctx.value(0)
    let rank = ctx.type(x).rank
    var axes = Set<Int>()
    for a in try ctx.ints(1) {
        let n = a < 0 ? a + rank : a
        guard n >= 0, n < rank else { throw FerccError("axis \(a) out of range for rank \(rank)") }
        axes.insert(n)
    }
    try ctx.emit(
        .reduce(kind, axes: axes.sorted(), keepDims: ctx.options.keepDims), inputs: [x], output: ctx.op.outputs[0])
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let reduceNotes: [String: (int8: String, note: String)] = [
    "MEAN": (int8: "yes", note: "any axes, keep_dims"),
    "SUM": (int8: "no", note: "any axes, keep_dims")
]
