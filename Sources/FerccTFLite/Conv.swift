import FerccIR

/// CONV_2D (grouped when the filter's input depth divides the input's) and DEPTHWISE_CONV_2D
/// (filter [1, kh, kw, C*M] rearranged to the IR's OHWI with C groups).
let convImporters: [String: (TFLiteImporter.OpImporter, Int)] = [
    "CONV_2D": (
        { ctx in
            var x = try ctx.value(0)
            let xt = ctx.type(x)
            let float = xt.dtype == .float32
            // Dynamic-range: LiteRT's per-channel hybrid kernel quantizes the input asymmetrically,
            // the per-tensor one symmetrically.
            let hybrid = float && ctx.isHybrid(weights: 1)
            if hybrid { x = try ctx.hybridInput(x, asymmetric: ctx.hybridPerChannel(weights: 1)) }
            let w = try ctx.weightValue(1, floatOp: float, hybridWeights: hybrid)
            let wt = ctx.type(w)
            guard xt.rank == 4, wt.rank == 4 else {
                throw FerccError("CONV_2D needs 4-D input and filter, got \(xt) and \(wt)")
            }
            guard wt.shape[3] > 0, xt.shape[3] % wt.shape[3] == 0 else {
                throw FerccError(
                    "filter input depth \(wt.shape[3]) does not divide the input's \(xt.shape[3]) channels")
            }
            let o = ctx.options
            let p = try ctx.padding(
                inH: xt.shape[1], inW: xt.shape[2], kernelH: wt.shape[1], kernelW: wt.shape[2],
                strideH: o.strideH, strideW: o.strideW, dilationH: o.dilationH, dilationW: o.dilationW)
            let conv = Conv2D(
                kernelH: wt.shape[1], kernelW: wt.shape[2], strideH: o.strideH, strideW: o.strideW,
                dilationH: o.dilationH, dilationW: o.dilationW,
                padTop: p.top, padLeft: p.left, padBottom: p.bottom, padRight: p.right,
                groups: xt.shape[3] / wt.shape[3], activation: try ctx.fusedActivation())
            var inputs = [x, w]
            if ctx.inputIndex(2) != nil { inputs.append(try ctx.weightValue(2, floatOp: float)) }
            try ctx.emit(.conv2D(conv), inputs: inputs, output: ctx.op.outputs[0])
        }, 8
    ),
    "DEPTHWISE_CONV_2D": (
        { ctx in
            var x = try ctx.value(0)
            let xt = ctx.type(x)
            let float = xt.dtype == .float32
            // Dynamic-range: LiteRT's hybrid depthwise kernel quantizes its input asymmetrically,
            // and takes int8 weights only (depthwise_conv.cc refuses uint8 in Prepare).
            let hybrid = float && ctx.isHybrid(weights: 1)
            if hybrid, ctx.hybrid == .litert, ctx.type(try ctx.value(1)).dtype == .uint8 {
                throw FerccError(
                    "uint8 weights with a float input: LiteRT's hybrid DEPTHWISE_CONV_2D takes int8 weights only and "
                        + "refuses this model; --hybrid float computes it with the weights dequantized")
            }
            if hybrid { x = try ctx.hybridInput(x, asymmetric: true) }
            let w = try ctx.weightValue(1, floatOp: float, hybridWeights: hybrid)
            let wv = ctx.graph.values[w]!
            guard xt.rank == 4, wv.type.rank == 4, wv.type.shape[0] == 1 else {
                throw FerccError(
                    "DEPTHWISE_CONV_2D needs a 4-D input and a [1, kh, kw, C*M] filter, got \(xt) and \(wv.type)")
            }
            let c = xt.shape[3], oc = wv.type.shape[3]
            guard c > 0, oc % c == 0 else {
                throw FerccError("\(oc) filter channels are not a multiple of \(c) input channels")
            }
            guard let data = wv.constant else { throw FerccError("DEPTHWISE_CONV_2D needs a constant filter") }
            let kh = wv.type.shape[1], kw = wv.type.shape[2]
            // [1, kh, kw, O] -> [O, kh, kw, 1]
            var order = [Int](repeating: 0, count: data.count)
            for o in 0..<oc { for i in 0..<(kh * kw) { order[o * kh * kw + i] = i * oc + o } }
            var q = wv.type.quantization
            if q?.axis != nil { q?.axis = 0 }
            let ohwi = ctx.fresh("\(w)#ohwi")
            ctx.graph.values[ohwi] = Value(
                name: ohwi, type: TensorType(wv.type.dtype, [oc, kh, kw, 1], quantization: q),
                constant: data.gather(order))
            let o = ctx.options
            let p = try ctx.padding(
                inH: xt.shape[1], inW: xt.shape[2], kernelH: kh, kernelW: kw,
                strideH: o.strideH, strideW: o.strideW, dilationH: o.dilationH, dilationW: o.dilationW)
            let conv = Conv2D(
                kernelH: kh, kernelW: kw, strideH: o.strideH, strideW: o.strideW,
                dilationH: o.dilationH, dilationW: o.dilationW,
                padTop: p.top, padLeft: p.left, padBottom: p.bottom, padRight: p.right,
                groups: c, activation: try ctx.fusedActivation())
            var inputs = [x, ohwi]
            if ctx.inputIndex(2) != nil { inputs.append(try ctx.weightValue(2, floatOp: float)) }
            try ctx.emit(.conv2D(conv), inputs: inputs, output: ctx.op.outputs[0])
        }, 7
    )
]

/// The int8 support and notes of the supported-op table (docs/ops.md).
let convNotes: [String: (int8: String, note: String)] = [
    "CONV_2D": (int8: "per-channel", note: "SAME/VALID, strides, dilation, grouped, fused activation"),
    "DEPTHWISE_CONV_2D": (int8: "per-channel", note: "depth multiplier, dilation, fused activation")
]
