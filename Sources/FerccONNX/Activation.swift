import FerccIR

/// Relu, Clip (attribute and input forms), LeakyRelu, PRelu, Sigmoid, HardSigmoid, HardSwish,
/// Tanh, Erf, and Softmax with its axis semantics before and after opset 13.
let activationImporters: [String: ONNXImporter.OpImporter] = [
    "Relu": { node, ctx in try unary(node, ctx, .relu) },
    "Sigmoid": { node, ctx in try unary(node, ctx, .sigmoid) },
    "Tanh": { node, ctx in try unary(node, ctx, .tanh) },
    "Erf": { node, ctx in try unary(node, ctx, .erf) },
    "HardSwish": { node, ctx in try unary(node, ctx, .hardSwish) },
    "LeakyRelu": { node, ctx in try unary(node, ctx, .leakyRelu(alpha: try node.float("alpha", 0.01))) },
    "HardSigmoid": { node, ctx in
        try unary(node, ctx, .hardSigmoid(alpha: try node.float("alpha", 0.2), beta: try node.float("beta", 0.5)))
    },
    "Clip": { node, ctx in
        var lo = -Float.infinity, hi = Float.infinity
        if ctx.opset >= 11 {
            for (i, isMin) in [(1, true), (2, false)] {
                guard let name = node.input(i) else { continue }
                guard let c = ctx.constant(name), c.count == 1 else {
                    throw FerccError("Clip \(isMin ? "min" : "max") must be a constant scalar")
                }
                if isMin { lo = c.floats[0] } else { hi = c.floats[0] }
            }
        } else {
            lo = try node.float("min", -.infinity)
            hi = try node.float("max", .infinity)
        }
        try unary(node, ctx, .clip(min: lo, max: hi))
    },
    "PRelu": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let slope = try ctx.value(try ShapeFolding.requireInput(node, 1))
        try ctx.emit(.prelu, inputs: [x, slope], outputs: [node.outputs[0]])
    },
    "Softmax": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let shape = try ctx.type(x).shape
        let rank = shape.count
        if ctx.opset >= 13 {
            let axis = try ShapeImport.normalizeAxis(try node.int("axis", -1), rank: rank)
            try ctx.emit(.softmax(axis: axis), inputs: [x], outputs: [node.outputs[0]])
            return
        }
        // Before opset 13 the input is seen as 2-D: [prod(shape[..<axis]), prod(shape[axis...])].
        var axis = try node.int("axis", 1)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis <= rank else { throw FerccError("Softmax axis out of range for rank \(rank)") }
        if axis == rank - 1 {
            try ctx.emit(.softmax(axis: axis), inputs: [x], outputs: [node.outputs[0]])
            return
        }
        let flat = ctx.fresh("\(node.outputs[0])#2d"), soft = ctx.fresh("\(node.outputs[0])#softmax2d")
        try ctx.emit(
            .reshape(shape: [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)]), inputs: [x], outputs: [flat])
        try ctx.emit(.softmax(axis: 1), inputs: [flat], outputs: [soft])
        try ctx.emit(.reshape(shape: shape), inputs: [soft], outputs: [node.outputs[0]])
    }
]

func unary(_ node: ONNXNode, _ ctx: ONNXImportContext, _ op: Activation) throws {
    let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
    try ctx.emit(.unary(op), inputs: [x], outputs: [node.outputs[0]])
}

/// Notes for the supported-op table (docs/ops.md).
let activationNotes: [String: String] = [
    "Clip":
        "min/max as attributes (opset < 11) or constant inputs (>= 11); min > max gives max everywhere, as the spec "
        + "says",
    "Erf": "float, and int8 as a lookup table",
    "HardSigmoid": "alpha, beta",
    "LeakyRelu": "alpha",
    "PRelu": "slope broadcast to the input",
    "Softmax": "axis semantics before opset 13 (2-D coercion) and from 13"
]
