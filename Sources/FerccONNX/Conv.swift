import FerccIR

/// Conv: groups (depthwise included), pads, auto_pad, dilations, strides. Weights are transposed
/// once from ONNX's OIHW to the IR's OHWI; the op runs on the NHWC twin of its input.
let convImporters: [String: ONNXImporter.OpImporter] = [
    "Conv": { node, ctx in
        let xName = try ShapeFolding.requireInput(node, 0), wName = try ShapeFolding.requireInput(node, 1)
        let x = try ctx.type(xName), w = try ctx.type(wName)
        guard x.rank == 4, w.rank == 4 else {
            throw FerccError("only 2-D convolution is supported (input \(x), weights \(w))")
        }
        if let k = try node.ints("kernel_shape"), k != [w.shape[2], w.shape[3]] {
            throw FerccError("kernel_shape \(k) does not match the weights \(w)")
        }
        let window = try SpatialAttributes(
            node, inputH: x.shape[2], inputW: x.shape[3], kernelH: w.shape[2], kernelW: w.shape[3])
        let conv = Conv2D(
            kernelH: w.shape[2], kernelW: w.shape[3], strideH: window.strides[0], strideW: window.strides[1],
            dilationH: window.dilations[0], dilationW: window.dilations[1],
            padTop: window.pads[0], padLeft: window.pads[1], padBottom: window.pads[2], padRight: window.pads[3],
            groups: try node.int("group", 1))
        var inputs = [try ctx.nhwc(xName)]
        if let c = ctx.constant(wName) {
            let s = w.shape
            let name = ctx.fresh("\(try ctx.value(wName))#ohwi")
            ctx.addConstant(name, c.permuted(shape: s, perm: [0, 2, 3, 1]), shape: [s[0], s[2], s[3], s[1]])
            inputs.append(name)
        } else {
            inputs.append(try ctx.nhwc(wName))
        }
        if let b = node.input(2) { inputs.append(try ctx.value(b)) }
        try ctx.emitNHWC(.conv2D(conv), inputs: inputs, output: node.outputs[0])
    }
]

/// strides, dilations and pads of a 2-D window op, with auto_pad resolved to explicit pads.
struct SpatialAttributes {
    var strides: [Int]
    var dilations: [Int]
    /// top, left, bottom, right
    var pads: [Int]

    init(_ node: ONNXNode, inputH: Int, inputW: Int, kernelH: Int, kernelW: Int) throws {
        strides = try node.ints("strides") ?? [1, 1]
        dilations = try node.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2 else {
            throw FerccError("strides and dilations must have 2 values")
        }
        guard strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw FerccError("strides and dilations must be positive")
        }
        let autoPad = try node.string("auto_pad", "NOTSET")
        switch autoPad {
        case "NOTSET", "":
            pads = try node.ints("pads") ?? [0, 0, 0, 0]
            guard pads.count == 4 else { throw FerccError("pads must have 4 values, got \(pads)") }
            guard pads.allSatisfy({ $0 >= 0 }) else { throw FerccError("negative pads \(pads) are not supported") }
        case "VALID":
            pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            // Bounded before this arithmetic (FuzzMutatedModels: a stride of Int64.max overflowed
            // it); shape inference bounds every window parameter the same way for the others.
            guard (strides + dilations + [kernelH, kernelW]).allSatisfy({ $0 < 1 << 40 }) else {
                throw FerccError(
                    "strides \(strides), dilations \(dilations) or kernel \(kernelH)x\(kernelW) beyond 2^40")
            }
            var begin = [0, 0], end = [0, 0]
            for (i, (size, k)) in [(inputH, kernelH), (inputW, kernelW)].enumerated() {
                let out = (size + strides[i] - 1) / strides[i]
                let total = max((out - 1) * strides[i] + (k - 1) * dilations[i] + 1 - size, 0)
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2
                end[i] = total - begin[i]
            }
            pads = [begin[0], begin[1], end[0], end[1]]
        default:
            throw FerccError("auto_pad '\(autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
    }
}

/// Notes for the supported-op table (docs/ops.md).
let convNotes: [String: String] = [
    "Conv": "2-D; group (depthwise included), pads, auto_pad SAME_UPPER/SAME_LOWER/VALID, strides, dilations"
]
