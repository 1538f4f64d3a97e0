import FerccIR
import FerccKernels

/// Gemm (float, and int8 as TFLite's fully connected layer) and batched MatMul (float).
enum GemmLowering {
    static func gemm(_ node: Node, _ g: Gemm, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let a = ctx.shape(node.inputs[0]), b = ctx.shape(node.inputs[1])
        let y = node.outputs[0]
        if Quantized.isQuantized(node, ctx) {
            try Quantized.requireInt8(node, ctx)
            guard g.transB, !g.transA, g.alpha == 1, g.beta == 1 else {
                throw FerccError("quantized Gemm must be a fully connected layer (transB, alpha = beta = 1)")
            }
            let (w, qw) = try Quantized.weights(node, 1, ctx)
            let r = try Quantized.requantization(node, channels: b[0], weights: qw, activation: g.activation, ctx)
            let zp = try Quantized.quant(ctx.type(node.inputs[0]), "the input").zeroPoint
            return [
                Int8FullyConnectedCall(
                    weights: ctx.add(w), bias: try Quantized.bias(node, 2, ctx).map(ctx.add), outputs: b[0],
                    depth: b[1],
                    batch: a[0], inputZeroPoint: zp, requantization: StoredRequantization(r, ctx),
                    input: try ctx.buffer(node.inputs[0]), output: try ctx.buffer(y))
            ]
        }
        try Quantized.requireFloat(node, ctx)
        let (m, k) = g.transA ? (a[1], a[0]) : (a[0], a[1])
        let n = g.transB ? b[0] : b[1]
        var calls: [any KernelCall] = []
        let lhs = try ctx.buffer(node.inputs[0])
        let scratch = g.transA ? m * k * 4 : 0
        if g.transA {  // A transposed into the scratch, where the matmul reads it
            calls.append(TransposeCall(dtype: .float32, shape: a, perm: [1, 0], input: lhs, output: nil))
        }
        let rhs: Buffer
        if let bd = ctx.floats(node.inputs[1]) {
            var packed = [Float](repeating: 0, count: k * n)
            for kk in 0..<k {
                for nn in 0..<n { packed[kk * n + nn] = g.alpha * (g.transB ? bd[nn * k + kk] : bd[kk * n + nn]) }
            }
            rhs = .weights(ctx.add(packed))
        } else {
            guard !g.transB, g.alpha == 1 else {
                throw FerccError("Gemm with weights computed at run time must have transB = 0 and alpha = 1")
            }
            rhs = try ctx.buffer(node.inputs[1])
        }
        let out = try ctx.buffer(y)
        calls.append(
            MatMulCall(
                m: m, k: k, n: n, batches: [(0, 0, 0)], lhs: lhs, rhs: rhs, output: out, lhsInScratch: g.transA,
                scratchBytes: scratch))
        if node.inputs.count > 2, g.beta != 0 {
            let cs = ctx.shape(node.inputs[2])
            guard ShapeInference.broadcastShapes(cs, [m, n]) == [m, n] else {
                throw FerccError("Gemm bias \(cs) does not broadcast to [\(m), \(n)]")
            }
            let c: Buffer
            if let cd = ctx.floats(node.inputs[2]) {
                c = .weights(ctx.add(cd.map { $0 * g.beta }))
            } else {
                guard g.beta == 1 else { throw FerccError("Gemm with a bias computed at run time must have beta = 1") }
                c = try ctx.buffer(node.inputs[2])
            }
            calls.append(
                FloatBinaryCall(kind: .add, a: out, aShape: [m, n], b: c, bShape: cs, output: out, outShape: [m, n]))
        }
        if g.activation != .identity {
            calls.append(ActivationCall(activation: g.activation, count: m * n, input: out, output: out))
        }
        return calls
    }

    static func matMul(_ node: Node, _ ctx: LoweringContext) throws -> [any KernelCall] {
        try Quantized.requireFloat(node, ctx)
        var a = ctx.shape(node.inputs[0]), b = ctx.shape(node.inputs[1])
        if a.count == 1 { a = [1] + a }
        if b.count == 1 { b = b + [1] }
        let m = a[a.count - 2], k = a[a.count - 1], n = b[b.count - 1]
        let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
        guard let batch = ShapeInference.broadcastShapes(batchA, batchB) else {
            throw FerccError("MatMul batch dimensions do not broadcast")
        }
        let sa = Kernels.broadcastStrides(batchA, to: batch), sb = Kernels.broadcastStrides(batchB, to: batch)
        let strides = Kernels.contiguousStrides(batch)
        var batches: [(Int, Int, Int)] = []
        for i in 0..<batch.reduce(1, *) {
            var offA = 0, offB = 0, rem = i
            for axis in 0..<batch.count {
                let idx = rem / strides[axis]
                rem %= strides[axis]
                offA += idx * sa[axis]
                offB += idx * sb[axis]
            }
            batches.append((offA * m * k, offB * k * n, i * m * n))
        }
        return [
            MatMulCall(
                m: m, k: k, n: n, batches: batches, lhs: try ctx.buffer(node.inputs[0]),
                rhs: try ctx.buffer(node.inputs[1]),
                output: try ctx.buffer(node.outputs[0]), lhsInScratch: false, scratchBytes: 0)
        ]
    }
}

/// out[b] = lhs[b] x rhs[b] for each batch (element offsets of lhs, rhs, out), row-major.
struct MatMulCall: KernelCall {
    let m: Int, k: Int, n: Int
    let batches: [(Int, Int, Int)]
    let lhs: Buffer, rhs: Buffer, output: Buffer
    /// The left side is in the scratch (a transposed copy).
    let lhsInScratch: Bool
    let scratchBytes: Int

    var kernels: [String] { ["Float/Gemm.swift"] }
    var summary: String {
        "matmul \(m)x\(k) x \(k)x\(n)\(batches.count > 1 ? " x\(batches.count)" : "") "
            + "\(lhsInScratch ? "scratch" : "\(lhs)"), \(rhs) -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (rows, depth, cols, batches) = (self.m, k, n, self.batches)
        let b = m.pointer(rhs, Float.self), y = m.pointer(output, Float.self)
        let a: UnsafeMutablePointer<Float>? = lhsInScratch ? nil : m.pointer(lhs, Float.self)
        return PreparedCall(scratchBytes: scratchBytes) { s in
            let a0 = a ?? s.assumingMemoryBound(to: Float.self)
            for (oa, ob, oy) in batches { Kernels.matmul(a0 + oa, b + ob, y + oy, m: rows, k: depth, n: cols) }
        }
    }

    func emit(_ w: inout SwiftWriter) {
        w.scratch(bytes: scratchBytes)
        let a = lhsInScratch ? w.scratch(.float32) : w.pointer(lhs, .float32)
        let b = w.pointer(rhs, .float32), y = w.pointer(output, .float32)
        if batches.count == 1 {
            let (oa, ob, oy) = batches[0]
            w.line(
                "Kernels.matmul(\(a)\(oa == 0 ? "" : " + \(oa)"), \(b)\(ob == 0 ? "" : " + \(ob)"), "
                    + "\(y)\(oy == 0 ? "" : " + \(oy)"), "
                    + "m: \(m), k: \(k), n: \(n))")
            return
        }
        let offsets = w.array(batches.flatMap { [$0.0, $0.1, $0.2] })
        w.line(
            "for i in 0..<\(batches.count) { Kernels.matmul(\(a) + \(offsets)[3 * i], \(b) + \(offsets)[3 * i + 1], "
                + "\(y) + \(offsets)[3 * i + 2], m: \(m), k: \(k), n: \(n)) }")
    }
}

struct Int8FullyConnectedCall: KernelCall {
    let weights: Int, bias: Int?
    let outputs: Int, depth: Int, batch: Int
    let inputZeroPoint: Int32
    let requantization: StoredRequantization
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Int8/QuantizedFullyConnected.swift"] }
    var summary: String { "QuantizedFullyConnectedKernel \(depth) -> \(outputs) x\(batch) \(input) -> \(output)" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let r = requantization.requantization
        let k = Kernels.QuantizedFullyConnectedKernel(
            weights: m.weights(weights), bias: bias.map { m.weights($0) }, outputs: outputs, depth: depth,
            inputZeroPoint: inputZeroPoint,
            multipliers: m.weights(requantization.multipliers), shifts: m.weights(requantization.shifts),
            scales: requantization.floatScales.map { m.weights($0) }, channels: r.multipliers.count,
            outputZeroPoint: r.outputZeroPoint, min: r.min, max: r.max)
        let x = m.pointer(input, Int8.self), y = m.pointer(output, Int8.self), batch = batch
        return PreparedCall { _ in k.run(input: x, output: y, batch: batch) }
    }

    func emit(_ w: inout SwiftWriter) {
        let type = "Kernels.QuantizedFullyConnectedKernel"
        let k = w.kernel(
            "qfc", type,
            "\(type)(weights: i8(weights + \(weights)), bias: \(bias.map { "i32(weights + \($0))" } ?? "nil"), "
                + "outputs: \(outputs), depth: \(depth), inputZeroPoint: \(inputZeroPoint), "
                + "\(requantization.arguments))"
        )
        w.line("\(k).run(input: \(w.pointer(input, .int8)), output: \(w.pointer(output, .int8)), batch: \(batch))")
    }
}
