import FerccIR

/// QuantizeLinear / DequantizeLinear, as onnxruntime's quantize_static writes QDQ models.
/// Activations: Q becomes an int8 quantize (uint8 parameters are shifted to int8: q - 128 with
/// zero point - 128, the same real values), DQ a dequantize. Constant int8/uint8/int32 tensors
/// under a DQ (weights, biases) become float constants holding exactly their real values; the
/// fold-qdq pass turns Q/DQ-wrapped float ops back into int8 ops.
let quantizationImporters: [String: ONNXImporter.OpImporter] = [
    "QuantizeLinear": { node, ctx in
        let x = try ctx.value(try ShapeFolding.requireInput(node, 0))
        let (scales, zeroPoints, dtype) = try qdqParameters(node, ctx)
        guard scales.count == 1 else { throw FerccError("per-axis QuantizeLinear of activations is not supported") }
        guard try ctx.type(x).dtype == .float32 else {
            throw FerccError("QuantizeLinear of \(try ctx.type(x).dtype.rawValue)")
        }
        let q = Quantization(scale: scales[0], zeroPoint: dtype == .uint8 ? zeroPoints[0] - 128 : zeroPoints[0])
        try ctx.emit(.quantize(to: .int8), inputs: [x], outputs: [node.outputs[0]])
        ctx.graph.values[node.outputs[0]]!.type.quantization = q
    },
    "DequantizeLinear": { node, ctx in
        let xName = try ShapeFolding.requireInput(node, 0)
        let (scales, zeroPoints, _) = try qdqParameters(node, ctx)
        if let c = ctx.constant(xName) {
            // A quantized constant: its real values, as a float constant.
            let shape = try ctx.type(xName).shape
            let axis = scales.count > 1 ? try ShapeImport.normalizeAxis(try node.int("axis", 1), rank: shape.count) : 0
            guard scales.count == 1 || (shape.count > axis && shape[axis] == scales.count) else {
                throw FerccError("DequantizeLinear has \(scales.count) scales for axis \(axis) of \(shape)")
            }
            let inner = shape.count > axis ? shape[(axis + 1)...].reduce(1, *) : 1
            let raw: [Double]
            switch c {
            case .int8(let v): raw = v.map { Double($0) }
            case .uint8(let v): raw = v.map { Double($0) }
            case .int32(let v): raw = v.map { Double($0) }
            case .int64(let v): raw = v.map { Double($0) }  // the reader keeps int32 initializers as int64
            default: throw FerccError("DequantizeLinear of a \(c.dtype.rawValue) constant")
            }
            let values = raw.indices.map { i -> Float in
                let ch = scales.count == 1 ? 0 : (i / inner) % scales.count
                return Float(Double(scales[ch]) * (raw[i] - Double(zeroPoints[scales.count == 1 ? 0 : ch])))
            }
            ctx.addConstant(node.outputs[0], .float(values), shape: shape)
            return
        }
        let x = try ctx.value(xName)
        let t = try ctx.type(x)
        guard t.dtype == .int8, let q = t.quantization else {
            throw FerccError(
                "DequantizeLinear of '\(xName)' (\(t.dtype.rawValue)): only tensors made by QuantizeLinear are "
                    + "supported"
            )
        }
        guard scales.count == 1, abs(scales[0] - q.scale) <= 1e-6 * q.scale else {
            throw FerccError("DequantizeLinear scale \(scales) differs from its QuantizeLinear's \(q.scale)")
        }
        try ctx.emit(.dequantize, inputs: [x], outputs: [node.outputs[0]])
    }
]

/// Scales, zero points (int32) and the quantized type of a Q/DQ node's constant inputs 1 and 2.
func qdqParameters(_ node: ONNXNode, _ ctx: ONNXImportContext) throws -> ([Float], [Int32], DType) {
    guard let s = node.input(1), let scale = ctx.constant(s) else {
        throw FerccError("\(node.opType) needs a constant scale")
    }
    let scales = scale.floats
    guard !scales.isEmpty, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
        throw FerccError("\(node.opType) scale must be positive and finite")
    }
    var zeroPoints = [Int32](repeating: 0, count: scales.count)
    var dtype = DType.uint8  // ONNX's default when the zero point is absent
    if let z = node.input(2) {
        guard let zp = ctx.constant(z) else { throw FerccError("\(node.opType) needs a constant zero point") }
        switch zp {
        case .int8(let v): zeroPoints = v.map { Int32($0) }; dtype = .int8
        case .uint8(let v): zeroPoints = v.map { Int32($0) }; dtype = .uint8
        case .int32(let v): zeroPoints = v; dtype = .int32
        case .int64(let v):
            guard v.allSatisfy({ abs($0) < 1 << 31 }) else {
                throw FerccError("\(node.opType) zero point out of range")
            }
            zeroPoints = v.map { Int32($0) }; dtype = .int32
        default: throw FerccError("\(node.opType) zero point of type \(zp.dtype.rawValue) is not supported")
        }
        guard zeroPoints.count == scales.count else {
            throw FerccError("\(node.opType) has \(scales.count) scales and \(zeroPoints.count) zero points")
        }
    }
    return (scales, zeroPoints, dtype)
}

/// Notes for the supported-op table (docs/ops.md).
let quantizationNotes: [String: String] = [
    "DequantizeLinear": "of QuantizeLinear outputs, or of int8/uint8/int32 constants (per axis)",
    "QuantizeLinear":
        "QDQ models: int8 or uint8 (as int8, zero point - 128), per tensor; fold-qdq makes the wrapped ops int8"
]
