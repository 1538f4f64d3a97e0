import FerccIR

/// MaxPool and AveragePool (ceil_mode, count_include_pad, dilations) on the NHWC twin of the
/// input; GlobalAveragePool and GlobalMaxPool as reductions over H and W, which need no layout.
let poolImporters: [String: ONNXImporter.OpImporter] = [
    "MaxPool": { node, ctx in try importPool(node, ctx, max: true) },
    "AveragePool": { node, ctx in try importPool(node, ctx, max: false) },
    "GlobalAveragePool": { node, ctx in try importGlobalPool(node, ctx, .mean) },
    "GlobalMaxPool": { node, ctx in try importGlobalPool(node, ctx, .max) },
]

func importPool(_ node: ONNXNode, _ ctx: ONNXImportContext, max: Bool) throws {
    let xName = try ShapeFolding.requireInput(node, 0)
    let x = try ctx.type(xName)
    guard x.rank == 4 else { throw FerccError("only 2-D pooling is supported (input \(x))") }
    if node.outputs.count > 1, !node.outputs[1].isEmpty { throw FerccError("MaxPool's Indices output is not supported") }
    guard let k = try node.ints("kernel_shape"), k.count == 2 else { throw FerccError("kernel_shape must have 2 values") }
    guard k.allSatisfy({ $0 > 0 }) else { throw FerccError("kernel_shape must be positive") }
    let w = try SpatialAttributes(node, inputH: x.shape[2], inputW: x.shape[3], kernelH: k[0], kernelW: k[1])
    let pool = Pool2D(kernelH: k[0], kernelW: k[1], strideH: w.strides[0], strideW: w.strides[1],
                      dilationH: w.dilations[0], dilationW: w.dilations[1],
                      padTop: w.pads[0], padLeft: w.pads[1], padBottom: w.pads[2], padRight: w.pads[3],
                      ceilMode: try node.int("ceil_mode", 0) != 0)
    let op: Op = max ? .maxPool2D(pool) : .averagePool2D(pool, countIncludePad: try node.int("count_include_pad", 0) != 0)
    try ctx.emitNHWC(op, inputs: [try ctx.nhwc(xName)], output: node.outputs[0])
}

func importGlobalPool(_ node: ONNXNode, _ ctx: ONNXImportContext, _ kind: ReduceKind) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    let rank = try ctx.type(x).rank
    guard rank >= 3 else { throw FerccError("\(node.opType) needs an input of rank 3 or more") }
    try ctx.emit(.reduce(kind, axes: Array(2..<rank), keepDims: true), inputs: [x], outputs: [node.outputs[0]])
}
