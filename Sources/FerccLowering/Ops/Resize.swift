import FerccIR
import FerccKernels

/// Resize of an NHWC tensor's H and W (bilinear or nearest, TFLite's coordinate rules), float.
enum ResizeLowering {
    static func resize(_ node: Node, _ r: Resize2D, _ ctx: LoweringContext) throws -> [any KernelCall] {
        try Quantized.requireFloat(node, ctx)
        return [
            ResizeCall(
                resize: r, inputShape: ctx.shape(node.inputs[0]), input: try ctx.buffer(node.inputs[0]),
                output: try ctx.buffer(node.outputs[0]))
        ]
    }
}

struct ResizeCall: KernelCall {
    let resize: Resize2D
    let inputShape: [Int]
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Float/Resize.swift"] }
    var summary: String {
        "resizeNHWC \(resize.bilinear ? "bilinear" : "nearest") \(inputShape) -> \(resize.outH)x\(resize.outW) "
            + "\(input) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let r = resize, s = inputShape
        let x = m.pointer(input, Float.self), y = m.pointer(output, Float.self)
        return PreparedCall { _ in
            Kernels.resizeNHWC(
                x, y, batch: s[0], inH: s[1], inW: s[2], channels: s[3], outH: r.outH, outW: r.outW,
                bilinear: r.bilinear,
                alignCorners: r.alignCorners, halfPixelCenters: r.halfPixelCenters)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let s = inputShape, r = resize
        w.line(
            "Kernels.resizeNHWC(\(w.pointer(input, .float32)), \(w.pointer(output, .float32)), batch: \(s[0]), inH: "
                + "\(s[1]), "
                + "inW: \(s[2]), channels: \(s[3]), outH: \(r.outH), outW: \(r.outW), bilinear: \(r.bilinear), "
                + "alignCorners: \(r.alignCorners), "
                + "halfPixelCenters: \(r.halfPixelCenters))")
    }
}
