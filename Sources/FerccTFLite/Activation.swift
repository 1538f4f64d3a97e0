import FerccIR

/// LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, PRELU, HARD_SWISH and SOFTMAX (beta).
let activationImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "LOGISTIC": ({ ctx in try unary(ctx, .sigmoid) }, 3),
    "TANH": ({ ctx in try unary(ctx, .tanh) }, 3),
    "RELU": ({ ctx in try unary(ctx, .relu) }, 3),
    "RELU6": ({ ctx in try unary(ctx, .clip(min: 0, max: 6)) }, 2),
    "RELU_N1_TO_1": ({ ctx in try unary(ctx, .clip(min: -1, max: 1)) }, 1),
    "LEAKY_RELU": ({ ctx in try unary(ctx, .leakyRelu(alpha: ctx.options.alpha)) }, 2),
    "HARD_SWISH": ({ ctx in try unary(ctx, .hardSwish) }, 1),
    "PRELU": (
        { ctx in
            let x = try ctx.value(0)
            let slope = try ctx.weightValue(1, floatOp: ctx.type(x).dtype == .float32)
            try ctx.emit(.prelu, inputs: [x, slope], output: ctx.op.outputs[0])
        }, 1
    ),
    "SOFTMAX": (
        { ctx in
            let x = try ctx.value(0)
            let rank = ctx.type(x).rank
            guard rank >= 1 else { throw FerccError("SOFTMAX of a scalar") }
            try ctx.emit(.softmax(axis: rank - 1, beta: ctx.options.beta), inputs: [x], output: ctx.op.outputs[0])
        }, 3
    )
]

func unary(_ ctx: TFLiteImportContext, _ op: Activation) throws {
    let x = try ctx.value(0)
    try ctx.emit(.unary(op), inputs: [x], output: ctx.op.outputs[0])
}

/// The int8 support and notes of the supported-op table (docs/ops.md).
let activationNotes: [String: (int8: String, note: String)] = [
    "HARD_SWISH": (int8: "yes", note: "16-bit fixed point"),
    "LEAKY_RELU": (int8: "no", note: "alpha"),
    "LOGISTIC": (int8: "yes", note: "lookup table"),
    "PRELU": (int8: "no", note: "slope broadcast"),
    "RELU": (int8: "no", note: ""),
    "RELU6": (int8: "no", note: ""),
    "RELU_N1_TO_1": (int8: "no", note: ""),
    "SOFTMAX": (int8: "yes", note: "beta, last axis"),
    "TANH": (int8: "yes", note: "lookup table")
]
