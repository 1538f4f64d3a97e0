/// Parameter and compute counts per node, for `fercc inspect` and the reports.
public struct NodeStats: Equatable, Sendable {
    /// Elements of the node's constant inputs.
    public var parameters: Int
    /// Bytes of those constants as stored (float32: 4 per element).
    public var weightBytes: Int
    /// Multiply-accumulates of one inference (0 for data movement).
    public var macs: Int
}

extension Graph {
    public func stats(of node: Node) -> NodeStats {
        var params = 0, bytes = 0
        for input in node.inputs {
            if let v = values[input], let c = v.constant {
                params += c.count
                bytes += c.count * v.type.dtype.byteSize
            }
        }
        let outCount = node.outputs.first.flatMap { values[$0]?.type.count } ?? 0
        let inShapes = node.inputs.map { values[$0]?.type.shape ?? [] }
        var macs = 0
        switch node.op {
        case .conv2D(let c):
            if inShapes.count > 1, inShapes[1].count == 4 {
                macs = saturatingProduct(outCount, c.kernelH, c.kernelW, inShapes[1][3])
            }
        case .gemm(let g):
            if inShapes.count > 1, inShapes[0].count == 2 {
                macs = saturatingProduct(outCount, (g.transA ? inShapes[0][0] : inShapes[0][1]))
            }
        case .matMul:
            if let a = inShapes.first, let k = a.last { macs = saturatingProduct(outCount, k) }
        case .maxPool2D(let p), .averagePool2D(let p, _):
            macs = saturatingProduct(outCount, p.kernelH, p.kernelW)
        case .batchNorm, .binary, .unary, .prelu, .softmax:
            macs = outCount
        case .reduce:
            macs = node.inputs.first.flatMap { values[$0]?.type.count } ?? 0
        case .reshape, .transpose, .concat, .split, .slice, .pad:
            macs = 0
        case .quantize, .dequantize, .dynamicQuantize:
            macs = outCount
        case .resize2D(let r):
            macs = saturatingProduct(outCount, (r.bilinear ? 4 : 1))
        case .channelShuffle, .interleave:
            macs = 0
        case .depthwisePointwise(let dw, _, _, let residual):
            if inShapes.count >= 5, inShapes[0].count == 4, inShapes[3].count == 4,
                let out = node.outputs.first.flatMap({ values[$0]?.type.shape })
            {
                let pixels = out[0] * out[1] * out[2]
                let (sum, overflow) = saturatingProduct(pixels, inShapes[3][0], inShapes[3][3]).addingReportingOverflow(
                    saturatingProduct(pixels, inShapes[1][0], dw.kernelH, dw.kernelW))
                macs = overflow ? Int.max : sum
            }
            // The residual add counts as the Add it was: one per output value.
            if residual != nil { macs = macs.addingReportingOverflow(outCount).overflow ? Int.max : macs + outCount }
        case .expandDepthwisePointwise(_, let dw, _, let residual):
            if inShapes.count >= 7, inShapes[0].count == 4, inShapes[1].count == 4, inShapes[5].count == 4,
                let out = node.outputs.first.flatMap({ values[$0]?.type.shape })
            {
                let inPixels = inShapes[0][0] * inShapes[0][1] * inShapes[0][2], pixels = out[0] * out[1] * out[2]
                macs =
                    inPixels * inShapes[1][0] * inShapes[1][3] + pixels * inShapes[3][0] * dw.kernelH * dw.kernelW
                    + pixels * inShapes[5][0] * inShapes[5][3]
            }
            if residual != nil { macs = macs.addingReportingOverflow(outCount).overflow ? Int.max : macs + outCount }
        }
        return NodeStats(parameters: params, weightBytes: bytes, macs: macs)
    }
}

/// The product, or Int.max when it overflows (statistics of hostile shapes must not trap).
func saturatingProduct(_ values: Int...) -> Int {
    var p = 1
    for v in values {
        let (r, overflow) = p.multipliedReportingOverflow(by: v)
        if overflow { return Int.max }
        p = r
    }
    return p
}
