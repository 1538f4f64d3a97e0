import FerccIR

/// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR to a constant size (float).
let resizeImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "RESIZE_BILINEAR": ({ ctx in try resize(ctx, bilinear: true) }, 4),
    "RESIZE_NEAREST_NEIGHBOR": ({ ctx in try resize(ctx, bilinear: false) }, 4)
]

func resize(_ ctx: TFLiteImportContext, bilinear: Bool) throws {
    let x = try ctx.value(0)
    guard ctx.type(x).dtype == .float32 else { throw FerccError("quantized resize is not supported") }
    let size = try ctx.ints(1)
    guard size.count == 2 else { throw FerccError("resize size must have 2 values, got \(size)") }
    let r = Resize2D(
        outH: size[0], outW: size[1], bilinear: bilinear,
        alignCorners: ctx.options.alignCorners, halfPixelCenters: ctx.options.halfPixelCenters)
    try ctx.emit(.resize2D(r), inputs: [x], output: ctx.op.outputs[0])
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let resizeNotes: [String: (int8: String, note: String)] = [
    "RESIZE_BILINEAR": (int8: "no", note: "align_corners, half_pixel_centers"),
    "RESIZE_NEAREST_NEIGHBOR": (int8: "no", note: "align_corners, half_pixel_centers")
]
