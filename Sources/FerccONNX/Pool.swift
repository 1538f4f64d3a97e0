import FerccIR

/// The spatial window ops: MaxPool and AveragePool (ceil_mode, count_include_pad, dilations) and
/// Resize / Upsample on the NHWC twin of the input; GlobalAveragePool and GlobalMaxPool as
/// reductions over H and W, which need no layout.
let poolImporters: [String: ONNXImporter.OpImporter] = [
    "Resize": { node, ctx in try importResize(node, ctx) },
    "Upsample": { node, ctx in try importResize(node, ctx) },
    "MaxPool": { node, ctx in try importPool(node, ctx, max: true) },
    "AveragePool": { node, ctx in try importPool(node, ctx, max: false) },
    "GlobalAveragePool": { node, ctx in try importGlobalPool(node, ctx, .mean) },
    "GlobalMaxPool": { node, ctx in try importGlobalPool(node, ctx, .max) }
]

func importPool(_ node: ONNXNode, _ ctx: ONNXImportContext, max: Bool) throws {
    let xName = try ShapeFolding.requireInput(node, 0)
    let x = try ctx.type(xName)
    guard x.rank == 4 else { throw FerccError("only 2-D pooling is supported (input \(x))") }
    if node.outputs.count > 1, !node.outputs[1].isEmpty {
        throw FerccError("MaxPool's Indices output is not supported")
    }
    guard let k = try node.ints("kernel_shape"), k.count == 2 else {
        throw FerccError("kernel_shape must have 2 values")
    }
    guard k.allSatisfy({ $0 > 0 }) else { throw FerccError("kernel_shape must be positive") }
    let w = try SpatialAttributes(node, inputH: x.shape[2], inputW: x.shape[3], kernelH: k[0], kernelW: k[1])
    let pool = Pool2D(
        kernelH: k[0], kernelW: k[1], strideH: w.strides[0], strideW: w.strides[1],
        dilationH: w.dilations[0], dilationW: w.dilations[1],
        padTop: w.pads[0], padLeft: w.pads[1], padBottom: w.pads[2], padRight: w.pads[3],
        ceilMode: try node.int("ceil_mode", 0) != 0)
    let op: Op =
        max ? .maxPool2D(pool) : .averagePool2D(pool, countIncludePad: try node.int("count_include_pad", 0) != 0)
    try ctx.emitNHWC(op, inputs: [try ctx.nhwc(xName)], output: node.outputs[0])
}

func importGlobalPool(_ node: ONNXNode, _ ctx: ONNXImportContext, _ kind: ReduceKind) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let rank = try ctx.type(x).rank
    guard rank >= 3 else { throw FerccError("\(node.opType) needs an input of rank 3 or more") }
    try ctx.emit(.reduce(kind, axes: Array(2..<rank), keepDims: true), inputs: [x], outputs: [node.outputs[0]])
}

/// Resize (opset 10 and later) and Upsample (opset 9) of H and W, where ONNX's coordinate rules
/// are the IR's (TFLite's): linear with half_pixel, pytorch_half_pixel, align_corners or
/// asymmetric coordinates; nearest with asymmetric + floor (torch's and Upsample's),
/// align_corners + round_prefer_ceil, or tf_half_pixel_for_nn + floor. Other combinations, cubic
/// mode and scales whose output lengths do not equal length x scale are refused by name.
func importResize(_ node: ONNXNode, _ ctx: ONNXImportContext) throws {
    let xName = try ShapeFolding.requireInput(node, 0)
    let x = try ctx.type(xName)
    guard x.rank == 4 else { throw FerccError("\(node.opType) of H and W needs a 4-D NCHW input (got \(x))") }
    let upsample = node.opType == "Upsample", legacy = upsample || ctx.opset < 11
    // Output lengths from `sizes` (opset >= 11) or `scales`.
    var out: [Int]
    var scales: [Float]?
    let scalesInput = legacy ? 1 : 2
    if !legacy, let name = node.input(3), let sizes = ctx.constant(name)?.int64s, !sizes.isEmpty {
        guard sizes.count == 4 else { throw FerccError("Resize sizes must have 4 values (axes are not supported)") }
        out = sizes.map { Int($0) }
    } else if let name = node.input(scalesInput), let s = ctx.constant(name)?.floats, !s.isEmpty {
        guard s.count == 4 else { throw FerccError("\(node.opType) scales must have 4 values") }
        scales = s
        out = try zip(x.shape, s).map { try scaledLength($0, $1, node) }
    } else if upsample, let s = try node.floats("scales") {
        guard s.count == 4 else { throw FerccError("Upsample scales must have 4 values") }
        scales = s
        out = try zip(x.shape, s).map { try scaledLength($0, $1, node) }
    } else {
        throw FerccError("\(node.opType) needs constant scales or sizes")
    }
    guard out[0] == x.shape[0], out[1] == x.shape[1] else {
        throw FerccError("\(node.opType) of the batch or channel axis is not supported")
    }
    guard out[2] > 0, out[3] > 0, out[2] < 1 << 20, out[3] < 1 << 20 else {
        throw FerccError("\(node.opType) to \(out[2])x\(out[3]) is not supported")
    }
    if let scales {
        // ONNX maps coordinates with the given scale; the IR with length ratios: equal only when they are.
        for a in 2...3 where Float(out[a]) / Float(x.shape[a]) != scales[a] {
            throw FerccError(
                "\(node.opType) scale \(scales[a]) of a length \(x.shape[a]) does not give a whole length; give "
                    + "sizes instead"
            )
        }
    }
    guard try node.int("antialias", 0) == 0 else { throw FerccError("Resize with antialias is not supported") }
    guard try node.ints("axes") == nil else { throw FerccError("Resize axes are not supported") }
    let mode = try node.string("mode", "nearest")
    let transform = legacy ? "asymmetric" : try node.string("coordinate_transformation_mode", "half_pixel")
    let nearestMode = legacy ? "floor" : try node.string("nearest_mode", "round_prefer_floor")
    var r = Resize2D(outH: out[2], outW: out[3], bilinear: false, alignCorners: false, halfPixelCenters: false)
    switch (mode, transform, nearestMode) {
    case ("linear", "half_pixel", _), ("bilinear", "half_pixel", _): r.bilinear = true; r.halfPixelCenters = true
    case ("linear", "pytorch_half_pixel", _) where out[2] > 1 && out[3] > 1:
        r.bilinear = true; r.halfPixelCenters = true
    case ("linear", "align_corners", _), ("bilinear", "align_corners", _): r.bilinear = true; r.alignCorners = true
    case ("linear", "asymmetric", _), ("bilinear", "asymmetric", _): r.bilinear = true
    case ("nearest", "asymmetric", "floor"): break
    case ("nearest", "align_corners", "round_prefer_ceil"): r.alignCorners = true
    case ("nearest", "tf_half_pixel_for_nn", "floor"): r.halfPixelCenters = true
    default:
        throw FerccError(
            "\(node.opType) mode \(mode) with coordinate_transformation_mode \(transform)"
                + (mode == "nearest" ? " and nearest_mode \(nearestMode)" : "") + " is not supported")
    }
    try ctx.emitNHWC(.resize2D(r), inputs: [try ctx.nhwc(xName)], output: node.outputs[0])
}

/// Notes for the supported-op table (docs/ops.md).
let poolNotes: [String: String] = [
    "AveragePool": "2-D; pads, auto_pad, strides, dilations, ceil_mode, count_include_pad",
    "GlobalAveragePool": "any rank >= 3",
    "GlobalMaxPool": "any rank >= 3",
    "MaxPool": "2-D; pads, auto_pad, strides, dilations, ceil_mode; no Indices output",
    "Resize":
        "H and W of NCHW; linear (half_pixel, pytorch_half_pixel, align_corners, asymmetric), nearest (asymmetric + "
        + "floor, align_corners + round_prefer_ceil, tf_half_pixel_for_nn + floor); constant scales giving whole "
        + "lengths or sizes; no cubic, antialias or axes",
    "Upsample": "opset 9: nearest and linear, constant scales giving whole lengths"
]

/// floor(length * scale), refused when the scale is not finite or the length would not fit.
private func scaledLength(_ length: Int, _ scale: Float, _ node: ONNXNode) throws -> Int {
    let v = (Float(length) * scale).rounded(.down)
    guard v.isFinite, v >= 0, v < Float(1 << 30) else {
        throw FerccError("\(node.opType) scale \(scale) of a length \(length) gives no usable output length")
    }
    return Int(v)
}
