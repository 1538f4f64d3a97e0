import FerccIR
import FerccKernels
import FerccRuntime

/// int8 nodes: the kernels and parameters of `QuantizedSpec` (what the interpreter runs), written
/// as Swift. Integer parameters go into the weights blob; scales are written as exact literals.
extension SwiftEmitter {
    static func geometryLiteral(_ g: Conv2DGeometry) -> String {
        geometry(([g.batch, g.inH, g.inW, g.inC], [g.batch, g.outH, g.outW, g.outC]), kh: g.kernelH, kw: g.kernelW, sh: g.strideH, sw: g.strideW,
                 dh: g.dilationH, dw: g.dilationW, pads: (g.padTop, g.padLeft, g.padBottom, g.padRight), groups: g.groups)
    }

    /// The requantization arguments of the pointer-taking kernel initializers.
    mutating func requantizationArguments(_ r: Requantization) -> String {
        // Shifts fit in a byte (TFLite's are within [-31, 30]): stored as int8 to keep the blob small.
        let m = addInt32(r.multipliers), s = addInt8(r.shifts.map { Int8(clamping: $0) })
        return "multipliers: i32(weights + \(m)), shifts: i8(weights + \(s)), channels: \(r.multipliers.count), "
            + "outputZeroPoint: \(r.outputZeroPoint), min: \(r.min), max: \(r.max)"
    }

    /// A `QuantizedConv2DKernel` construction over parameters stored in the weights blob.
    mutating func convKernel(_ geo: Conv2DGeometry, _ w: [Int8], _ bias: [Int32]?, _ zp: Int32, _ rq: Requantization) -> String {
        let wo = addInt8(w)
        let b = bias.map { "UnsafePointer(i32(weights + \(addInt32($0))))" } ?? "nil"
        return "QuantizedConv2DKernel(geometry: \(Self.geometryLiteral(geo)), weights: i8(weights + \(wo)), bias: \(b), "
            + "inputZeroPoint: \(zp), \(requantizationArguments(rq)))"
    }

    static func lookupClosure(sigmoid: Bool) -> String {
        // The same functions as QuantizedSpec.lookupFunction.
        sigmoid ? "{ x in 1 / (1 + Float(KernelMath.exp(Double(-x)))) }" : "{ x in KernelMath.tanh(x) }"
    }

    static func tableArguments(_ p: QuantizedSpec.TableParameters) -> String {
        "inputScale: \(float(p.inputScale)), inputZeroPoint: \(p.inputZeroPoint), outputScale: \(float(p.outputScale)), outputZeroPoint: \(p.outputZeroPoint)"
    }

    mutating func emitQuantized(_ node: Node, _ plan: ArenaPlan) throws {
        guard let spec = try QuantizedSpec.make(node, graph) else {
            throw FerccError("\(node.op.name) with uint8 tensors is not supported by the code generator (int8 only)")
        }
        let out = node.outputs[0]
        let y = try ptr(out, plan), x = try ptr(node.inputs[0], plan)
        let n = count(out)
        switch spec {
        case .conv(let geo, let w, let bias, let zp, let rq):
            let k = fresh("qconv")
            properties.append("private let \(k): QuantizedConv2DKernel")
            initLines.append("\(k) = \(convKernel(geo, w, bias, zp, rq))")
            initLines.append("scratchNeeded = max(scratchNeeded, (\(k).scratchBytes + 3) / 4)")
            let scratchBytes = QuantizedConv2DKernel(geometry: geo, weights: w, bias: bias, inputZeroPoint: zp, requantization: rq).scratchBytes
            scratchFloats = max(scratchFloats, (scratchBytes + 3) / 4)
            body.append("\(k).run(input: \(x), output: \(y), scratch: UnsafeMutableRawPointer(scratch))")

        case .depthwisePointwise(let dwSpec, let pwSpec):
            guard case .conv(let dg, let dw, let db, let dzp, let drq) = dwSpec, case .conv(let pg, let pw, let pb, let pzp, let prq) = pwSpec else {
                throw FerccError("int8 DepthwisePointwise")
            }
            let k = fresh("qfused")
            properties.append("private let \(k): QuantizedDepthwisePointwiseKernel")
            initLines.append("\(k) = QuantizedDepthwisePointwiseKernel(depthwise: \(convKernel(dg, dw, db, dzp, drq)), "
                + "pointwise: \(convKernel(pg, pw, pb, pzp, prq)))")
            initLines.append("scratchNeeded = max(scratchNeeded, (\(k).scratchBytes + 3) / 4)")
            let scratchBytes = QuantizedDepthwisePointwiseKernel(
                depthwise: QuantizedConv2DKernel(geometry: dg, weights: dw, bias: db, inputZeroPoint: dzp, requantization: drq),
                pointwise: QuantizedConv2DKernel(geometry: pg, weights: pw, bias: pb, inputZeroPoint: pzp, requantization: prq)).scratchBytes
            scratchFloats = max(scratchFloats, (scratchBytes + 3) / 4)
            body.append("\(k).run(input: \(x), output: \(y), scratch: UnsafeMutableRawPointer(scratch))")

        case .fullyConnected(let w, let bias, let outputs, let depth, let batch, let zp, let rq):
            let wo = addInt8(w)
            let b = bias.map { "UnsafePointer(i32(weights + \(addInt32($0))))" } ?? "nil"
            let k = fresh("qfc")
            properties.append("private let \(k): QuantizedFullyConnectedKernel")
            initLines.append("\(k) = QuantizedFullyConnectedKernel(weights: i8(weights + \(wo)), bias: \(b), outputs: \(outputs), depth: \(depth), "
                + "inputZeroPoint: \(zp), \(requantizationArguments(rq)))")
            body.append("\(k).run(input: \(x), output: \(y), batch: \(batch))")

        case .binary(let p, let aShape, let bShape, let outShape):
            let kind: String
            switch p.kind {
            case .add: kind = ".add"
            case .sub: kind = ".sub"
            case .mul: kind = ".mul"
            }
            let k = fresh("qbinary")
            properties.append("private let \(k): QuantizedBinaryKernel")
            initLines.append("\(k) = QuantizedBinaryKernel(kind: \(kind), scale1: \(Self.float(p.scale1)), zeroPoint1: \(p.zeroPoint1), "
                + "scale2: \(Self.float(p.scale2)), zeroPoint2: \(p.zeroPoint2), outputScale: \(Self.float(p.outputScale)), "
                + "outputZeroPoint: \(p.outputZeroPoint), min: \(p.min), max: \(p.max))")
            body.append("\(k).run(\(x), \(array(aShape)), \(try ptr(node.inputs[1], plan)), \(array(bShape)), \(y), \(array(outShape)))")

        case .pool(let geo, let average, let lo, let hi):
            let k = fresh("qpool")
            properties.append("private let \(k): QuantizedPoolKernel")
            initLines.append("\(k) = QuantizedPoolKernel(geometry: \(Self.geometryLiteral(geo)), average: \(average), min: \(lo), max: \(hi))")
            body.append("\(k).run(input: \(x), output: \(y))")

        case .mean(let p, let shape, let axes):
            let k = fresh("qmean")
            properties.append("private let \(k): QuantizedMeanKernel")
            initLines.append("\(k) = QuantizedMeanKernel(inputScale: \(Self.float(p.inputScale)), inputZeroPoint: \(p.inputZeroPoint), "
                + "outputScale: \(Self.float(p.outputScale)), outputZeroPoint: \(p.outputZeroPoint), count: \(p.count))")
            body.append("\(k).run(\(x), \(array(shape)), axes: \(array(axes)), \(y))")

        case .softmax(let beta, let inputScale, let outer, let depth):
            let k = fresh("qsoftmax")
            properties.append("private let \(k): QuantizedSoftmaxKernel")
            initLines.append("\(k) = QuantizedSoftmaxKernel(beta: \(Self.float(beta)), inputScale: \(Self.float(inputScale)))")
            body.append("\(k).run(\(x), \(y), outer: \(outer), depth: \(depth))")

        case .quantize(let scale, let zp):
            body.append("quantizeInt8(\(x), \(y), count: \(n), scale: \(Self.float(scale)), zeroPoint: \(zp))")

        case .requantize(let m, let shift, let inZp, let outZp):
            body.append("requantizeInt8(\(x), \(y), count: \(n), multiplier: \(m), shift: \(shift), inputZeroPoint: \(inZp), outputZeroPoint: \(outZp))")

        case .dequantize(let scale, let zp):
            body.append("dequantizeInt8(\(x), \(y), count: \(n), scale: \(Self.float(scale)), zeroPoint: \(zp))")

        case .lookup(let sigmoid, let p):
            let k = fresh("qtable")
            properties.append("private let \(k): QuantizedLookupTable")
            initLines.append("\(k) = QuantizedLookupTable(\(Self.tableArguments(p)), \(Self.lookupClosure(sigmoid: sigmoid)))")
            body.append("\(k).run(\(x), \(y), count: \(n))")

        case .hardSwish(let p):
            let k = fresh("qhardswish")
            properties.append("private let \(k): QuantizedHardSwishKernel")
            initLines.append("\(k) = QuantizedHardSwishKernel(\(Self.tableArguments(p)))")
            body.append("\(k).run(\(x), \(y), count: \(n))")

        case .concat(let axis, let rescales, let outZp):
            // Inputs with other parameters are rescaled into the scratch buffer first.
            let outStrides = stridesOf(shape(out))
            var offset = 0
            for (input, r) in zip(node.inputs, rescales) {
                let s = shape(input)
                var src = try ptr(input, plan)
                if let r {
                    body.append("rescaleInt8(\(src), i8(scratch), count: \(count(input)), scale: \(Self.float(r.scale)), bias: \(Self.float(r.bias)), outputZeroPoint: \(outZp))")
                    scratchFloats = max(scratchFloats, (count(input) + 3) / 4)
                    src = "i8(scratch)"
                }
                body.append("stridedCopy(\(src), \(array(stridesOf(s))), \(y) + \(offset * outStrides[axis]), \(array(outStrides)), \(array(s)))")
                offset += s[axis]
            }
        }
    }
}
