import FerccIR

/// AVERAGE_POOL_2D (divides by the taps inside the input) and MAX_POOL_2D, SAME or VALID.
let poolImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "AVERAGE_POOL_2D": ({ ctx in try pool(ctx, max: false) }, 3),
    "MAX_POOL_2D": ({ ctx in try pool(ctx, max: true) }, 3)
]

func pool(_ ctx: TFLiteImportContext, max: Bool) throws {
    let x = try ctx.value(0)
    let xt = ctx.type(x)
    guard xt.rank == 4 else { throw FerccError("pooling needs a 4-D input, got \(xt)") }
    let o = ctx.options
    guard o.filterH > 0, o.filterW > 0, o.strideH > 0, o.strideW > 0 else { throw FerccError("bad filter or strides") }
    let p = try ctx.padding(
        inH: xt.shape[1], inW: xt.shape[2], kernelH: o.filterH, kernelW: o.filterW,
        strideH: o.strideH, strideW: o.strideW, dilationH: 1, dilationW: 1)
    let pool = Pool2D(
        kernelH: o.filterH, kernelW: o.filterW, strideH: o.strideH, strideW: o.strideW,
        padTop: p.top, padLeft: p.left, padBottom: p.bottom, padRight: p.right,
        activation: try ctx.fusedActivation())
    try ctx.emit(
        max ? .maxPool2D(pool) : .averagePool2D(pool, countIncludePad: false), inputs: [x], output: ctx.op.outputs[0])
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let poolNotes: [String: (int8: String, note: String)] = [
    "AVERAGE_POOL_2D": (int8: "yes", note: "SAME/VALID, fused activation"),
    "MAX_POOL_2D": (int8: "yes", note: "SAME/VALID, fused activation")
]
