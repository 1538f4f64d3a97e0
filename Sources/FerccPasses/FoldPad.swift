import FerccIR

/// A Pad of zeros on H and W only (NHWC) whose only reader is a Conv2D becomes that
/// convolution's own padding, so the padded copy never exists. For quantized tensors the pad
/// value must be real zero: the padded taps then hold the zero point, which int8 convolution
/// treats exactly as taps outside the image. A float one, or an int8 one that keeps its input's
/// quantization, before a MaxPool2D (not ceil mode) becomes the pool's padding when the padded
/// tensor cannot be negative (a ReLU's output, as TF exports ShuffleNetV2's stem, float or
/// int8): the pool skips padded taps, and a window's maximum is then the same with or without
/// the zeros, since every window holds at least one value >= 0.
struct FoldPad: GraphPass {
    let name = "fold-pad"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        var changes = 0
        var i = 0
        while i < graph.nodes.count {
            defer { i += 1 }
            guard case .pad(let pads, let value) = graph.nodes[i].op, value == 0, pads.count == 8,
                pads[0] == 0, pads[3] == 0, pads[4] == 0, pads[7] == 0, pads.allSatisfy({ $0 >= 0 })
            else { continue }
            let padded = graph.nodes[i].outputs[0]
            guard let ci = graph.soleConsumer(of: padded), graph.nodes[ci].inputs[0] == padded else { continue }
            switch graph.nodes[ci].op {
            case .conv2D(var conv):
                conv.padTop += pads[1]; conv.padBottom += pads[5]
                conv.padLeft += pads[2]; conv.padRight += pads[6]
                graph.nodes[ci].op = .conv2D(conv)
            case .maxPool2D(var pool)
            where !pool.ceilMode && keepsEncoding(graph.nodes[i].inputs[0], padded, graph)
                && isNonNegative(graph.nodes[i].inputs[0], graph):
                pool.padTop += pads[1]; pool.padBottom += pads[5]
                pool.padLeft += pads[2]; pool.padRight += pads[6]
                graph.nodes[ci].op = .maxPool2D(pool)
            default:
                continue
            }
            graph.nodes[ci].inputs[0] = graph.nodes[i].inputs[0]
            graph.nodes.remove(at: i)
            graph.values[padded] = nil
            i -= 1
            changes += 1
        }
        return changes
    }

    /// Whether the Pad's output holds its input's values as they are: float, or int8 of the same
    /// quantization (the fill, real 0, is then the zero point, which a ReLU's or a clip's int8
    /// output never goes below).
    func keepsEncoding(_ input: String, _ padded: String, _ graph: Graph) -> Bool {
        if graph.isFloat(padded) { return true }
        guard let t = graph.values[padded]?.type, let u = graph.values[input]?.type else { return false }
        return t.dtype == .int8 && u.dtype == .int8 && t.quantization != nil && t.quantization == u.quantization
    }

    /// Whether every value of the tensor `name` is >= 0: the output of a ReLU, or
    /// of a clip whose low bound is >= 0, on its own or fused into the op.
    func isNonNegative(_ name: String, _ graph: Graph) -> Bool {
        guard let p = graph.producers()[name] else { return false }
        let activation: Activation
        switch graph.nodes[p].op {
        case .unary(let a): activation = a
        case .conv2D(let c): activation = c.activation
        case .gemm(let g): activation = g.activation
        case .binary(_, let a): activation = a
        default: return false
        }
        switch activation {
        case .relu: return true
        case .clip(let lo, _): return lo >= 0
        default: return false
        }
    }
}
