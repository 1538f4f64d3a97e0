import FerccIR

/// BatchNormalization in inference form, on the channel axis 1 of the ONNX layout.
let normalizationImporters: [String: ONNXImporter.OpImporter] = [
    "BatchNormalization": { node, ctx in
        if try node.int("training_mode", 0) != 0 || node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw FerccError(
                "BatchNormalization in training mode (running statistics outputs) is not supported; export the "
                    + "model in eval mode"
            )
        }
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        guard try ctx.type(x).rank >= 2 else { throw FerccError("BatchNormalization needs an input of rank 2 or more") }
        let params = try (1...4).map { try ctx.value(try ShapeFolding.requireInput(node, $0)) }
        try ctx.emit(
            .batchNorm(axis: 1, epsilon: try node.float("epsilon", 1e-5)), inputs: [x] + params,
            outputs: [node.outputs[0]])
    }
]

/// Notes for the supported-op table (docs/ops.md).
let normalizationNotes: [String: String] = [
    "BatchNormalization": "inference mode"
]
