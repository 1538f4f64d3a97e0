import FerccIR

/// QUANTIZE (float -> int8/uint8, or requantization) and DEQUANTIZE (constants folded: float16
/// and int8 weights of float models).
let quantizationImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "QUANTIZE": (
        { ctx in
            let x = try ctx.value(0)
            let out = ctx.op.outputs[0]
            let t = try ctx.type(of: out)
            guard t.dtype.isQuantized else { throw FerccError("QUANTIZE to \(t.dtype.rawValue) is not supported") }
            try ctx.emit(.quantize(to: t.dtype), inputs: [x], output: out)
        }, 3
    ),
    "DEQUANTIZE": (
        { ctx in
            let out = ctx.op.outputs[0]
            if ctx.isConstant(0) {
                // Weights stored as float16 or int8 for a float model: dequantize once here.
                let w = try ctx.weightValue(0, floatOp: true)
                let v = ctx.graph.values[w]!
                let name = ctx.name(out)
                ctx.graph.values[name] = Value(
                    name: name, type: TensorType(.float32, v.type.shape), constant: .float(v.constant!.floats))
                return
            }
            try ctx.emit(.dequantize, inputs: [try ctx.value(0)], output: out)
        }, 6
    )
]

/// The int8 support and notes of the supported-op table (docs/ops.md).
let quantizationNotes: [String: (int8: String, note: String)] = [
    "DEQUANTIZE": (int8: "yes", note: "also float16/int8 constant weights"),
    "QUANTIZE": (int8: "yes", note: "float to int8/uint8, requantization")
]
