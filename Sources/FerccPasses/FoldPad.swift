import FerccIR

/// A Pad of zeros on H and W only (NHWC) whose only reader is a Conv2D becomes that
/// convolution's own padding, so the padded copy never exists. For quantized tensors the pad
/// value must be real zero: the padded taps then hold the zero point, which int8 convolution
/// treats exactly as taps outside the image.
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
            guard let ci = graph.soleConsumer(of: padded), case .conv2D(var conv) = graph.nodes[ci].op,
                graph.nodes[ci].inputs[0] == padded
            else { continue }
            conv.padTop += pads[1]; conv.padBottom += pads[5]
            conv.padLeft += pads[2]; conv.padRight += pads[6]
            graph.nodes[ci].op = .conv2D(conv)
            graph.nodes[ci].inputs[0] = graph.nodes[i].inputs[0]
            graph.nodes.remove(at: i)
            graph.values[padded] = nil
            i -= 1
            changes += 1
        }
        return changes
    }
}
