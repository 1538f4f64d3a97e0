import FerccIR

/// FULLY_CONNECTED: the input flattened to [N, K], a Gemm against the [O, K] weights (transB),
/// and a reshape to the declared output (keep_num_dims keeps the leading axes).
let fullyConnectedImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "FULLY_CONNECTED": (
        { ctx in
            guard ctx.options.weightsFormat == 0 else {
                throw FerccError("shuffled FULLY_CONNECTED weights are not supported")
            }
            var x = try ctx.value(0)
            let xt = ctx.type(x)
            let float = xt.dtype == .float32
            // Dynamic-range: LiteRT quantizes each input row on the fly, as the op's option says.
            let hybrid = float && ctx.isHybrid(weights: 1)
            let w = try ctx.weightValue(1, floatOp: float, hybridWeights: hybrid)
            let wt = ctx.type(w)
            guard wt.rank == 2 else { throw FerccError("FULLY_CONNECTED weights must be 2-D, got \(wt)") }
            let k = wt.shape[1]
            guard k > 0, xt.count % k == 0 else { throw FerccError("input \(xt) does not flatten to rows of \(k)") }
            let rows = xt.count / k
            if xt.shape != [rows, k] {
                x = try ctx.emitIntermediate(
                    .reshape(shape: [rows, k]), inputs: [x], base: "\(x)#2d", quantization: xt.quantization)
            }
            if hybrid { x = try ctx.hybridInput(x, asymmetric: ctx.options.asymmetricQuantizeInputs) }
            var inputs = [x, w]
            if ctx.inputIndex(2) != nil { inputs.append(try ctx.weightValue(2, floatOp: float)) }
            let gemm = Gemm(transB: true, activation: try ctx.fusedActivation())
            let out = ctx.op.outputs[0]
            let declared = try ctx.type(of: out)
            if declared.shape == [rows, wt.shape[0]] || declared.shape.isEmpty {
                try ctx.emit(.gemm(gemm), inputs: inputs, output: out)
            } else {
                let mid = try ctx.emitIntermediate(
                    .gemm(gemm), inputs: inputs, base: "\(ctx.name(out))#2d", quantization: declared.quantization)
                try ctx.emit(.reshape(shape: declared.shape), inputs: [mid], output: out)
            }
        }, 13
    )
]

/// The int8 support and notes of the supported-op table (docs/ops.md).
let fullyConnectedNotes: [String: (int8: String, note: String)] = [
    "FULLY_CONNECTED": (int8: "per-tensor and per-channel", note: "keep_num_dims, optional bias, fused activation")
]
