import FerccIR

/// Gemm (transA, transB, alpha, beta, optional C) and MatMul.
let matrixImporters: [String: ONNXImporter.OpImporter] = [
    "Gemm": { node, ctx in
        let a = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let b = try ctx.value(try ShapeFolding.requireInput(node, 1))
        var inputs = [a, b]
        if let c = node.input(2) { inputs.append(try ctx.value(c)) }
        let g = Gemm(
            transA: try node.int("transA", 0) != 0, transB: try node.int("transB", 0) != 0,
            alpha: try node.float("alpha", 1), beta: try node.float("beta", 1))
        try ctx.emit(.gemm(g), inputs: inputs, outputs: [node.outputs[0]])
    },
    "MatMul": { node, ctx in
        let a = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let b = try ctx.value(try ShapeFolding.requireInput(node, 1))
        try ctx.emit(.matMul, inputs: [a, b], outputs: [node.outputs[0]])
    }
]

/// Notes for the supported-op table (docs/ops.md).
let matrixNotes: [String: String] = [
    "Gemm": "transA, transB, alpha, beta, optional C (broadcast)",
    "MatMul": "batched, numpy broadcasting"
]
