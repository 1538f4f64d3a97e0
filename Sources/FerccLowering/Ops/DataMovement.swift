import FerccIR
import FerccKernels

/// The ops that move elements without arithmetic, on any element type: Reshape (an alias in the
/// arena), Transpose, ChannelShuffle, Slice, Split, Concat (int8 inputs with other quantization
/// are rescaled first, as TFLite's ConcatenationWithScaling), Pad.
enum DataMovementLowering {
    static func reshape(_ node: Node, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0], y = node.outputs[0]
        // The planner gives a reshape its input's bytes; only a constant input is copied.
        guard ctx.isConstant(x) else { return [] }
        return [
            CopyCall(dtype: ctx.type(x).dtype, count: ctx.count(y), input: try ctx.buffer(x), output: try ctx.buffer(y))
        ]
    }

    static func transpose(_ node: Node, perm: [Int], _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0]
        return [
            TransposeCall(
                dtype: ctx.type(x).dtype, shape: ctx.shape(x), perm: perm, input: try ctx.buffer(x),
                output: try ctx.buffer(node.outputs[0]))
        ]
    }

    /// ShuffleNet's channel shuffle: the axis viewed as [groups, n / groups], the two swapped.
    static func channelShuffle(_ node: Node, groups: Int, axis: Int, _ ctx: LoweringContext) throws -> [any KernelCall]
    {
        let x = node.inputs[0], s = ctx.shape(x)
        let view = [s[..<axis].reduce(1, *), groups, s[axis] / groups, s[(axis + 1)...].reduce(1, *)]
        return [
            TransposeCall(
                dtype: ctx.type(x).dtype, shape: view, perm: [0, 2, 1, 3], input: try ctx.buffer(x),
                output: try ctx.buffer(node.outputs[0]))
        ]
    }

    /// Concat + ChannelShuffle (+ the Slices after it) fused: element j of input g lands at
    /// j * k + g on the axis, output p holding the p-th of equal parts. Two inputs with the axis
    /// last (float parts at least 4 long per input, or bytes): one interleave per part; otherwise a
    /// strided copy per input and part. An int8 input of another quantization than the outputs'
    /// (at most one: `fuse-concat-shuffle` fuses no more) is rescaled into the scratch first, as
    /// Concat rescales it, and read from there.
    static func interleave(_ node: Node, axis: Int, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let s = ctx.shape(node.inputs[0]), k = node.inputs.count, outType = ctx.type(node.outputs[0])
        let dtype = outType.dtype
        let outer = s[..<axis].reduce(1, *), n = s[axis], inner = s[(axis + 1)...].reduce(1, *)
        let part = n / node.outputs.count  // of each input, per output
        var calls: [any KernelCall] = []
        var sources: [StridedCopyCall.Source] = []
        for x in node.inputs {
            if let r = try rescale(x, to: outType, node, ctx) {
                guard !calls.contains(where: { $0 is RescaleCall }) else {
                    throw FerccError("Interleave of more than one input to rescale")
                }
                calls.append(r)
                sources.append(.scratch)
            } else {
                sources.append(.buffer(try ctx.buffer(x)))
            }
        }
        for (p, y) in node.outputs.enumerated() {
            if k == 2, inner == 1, (dtype == .float32 && part >= 4) || dtype.isQuantized {
                calls.append(
                    InterleaveCall(
                        dtype: dtype, a: sources[0], b: sources[1], offset: p * part, stride: n,
                        output: try ctx.buffer(y), pixels: outer, half: part))
                continue
            }
            for (g, source) in sources.enumerated() {
                calls.append(
                    StridedCopyCall(
                        dtype: dtype, source: source, sourceOffset: p * part * inner,
                        sourceStrides: [n * inner, inner, 1], output: try ctx.buffer(y), outputOffset: g * inner,
                        outputStrides: [k * part * inner, k * inner, 1], shape: [outer, part, inner]))
            }
        }
        return calls
    }

    /// The rescale of int8 `input` into the scratch when `output`'s quantization differs from its
    /// (TFLite's ConcatenationWithScaling, in float); nil when they are the same or not quantized.
    static func rescale(_ input: String, to output: TensorType, _ node: Node, _ ctx: LoweringContext) throws
        -> RescaleCall?
    {
        guard output.dtype.isQuantized else { return nil }
        try Quantized.requireInt8(node, ctx)
        let qout = try Quantized.quant(output, "the output")
        let t = ctx.type(input)
        guard t.dtype == .int8 else { throw FerccError("\(node.op.name) of int8 and \(t.dtype.rawValue)") }
        let q = try Quantized.quant(t, "an input")
        if q.scale == qout.scale && q.zeroPoint == qout.zeroPoint { return nil }
        let scale = q.scale / qout.scale
        return RescaleCall(
            scale: scale, bias: -Float(q.zeroPoint) * scale, outputZeroPoint: qout.zeroPoint, count: ctx.count(input),
            input: try ctx.buffer(input))
    }

    static func slice(_ node: Node, _ s: Slice, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0]
        guard s.sizes.reduce(1, *) > 0 else { return [] }
        let inStrides = Kernels.contiguousStrides(ctx.shape(x))
        let base = zip(s.starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
        return [
            StridedCopyCall(
                dtype: ctx.type(x).dtype, source: .buffer(try ctx.buffer(x)), sourceOffset: base,
                sourceStrides: zip(s.steps, inStrides).map { $0 * $1 }, output: try ctx.buffer(node.outputs[0]),
                outputOffset: 0, outputStrides: Kernels.contiguousStrides(s.sizes), shape: s.sizes)
        ]
    }

    static func split(_ node: Node, axis: Int, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0]
        let inStrides = Kernels.contiguousStrides(ctx.shape(x))
        var offset = 0
        var calls: [any KernelCall] = []
        for o in node.outputs {
            let s = ctx.shape(o)
            if s.reduce(1, *) > 0 {
                calls.append(
                    StridedCopyCall(
                        dtype: ctx.type(x).dtype, source: .buffer(try ctx.buffer(x)),
                        sourceOffset: offset * inStrides[axis],
                        sourceStrides: inStrides, output: try ctx.buffer(o), outputOffset: 0,
                        outputStrides: Kernels.contiguousStrides(s), shape: s))
            }
            offset += s[axis]
        }
        return calls
    }

    static func concat(_ node: Node, axis: Int, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let y = node.outputs[0]
        let outType = ctx.type(y)
        let outStrides = Kernels.contiguousStrides(outType.shape)
        var offset = 0
        var calls: [any KernelCall] = []
        for input in node.inputs {
            let s = ctx.shape(input)
            var source = StridedCopyCall.Source.buffer(try ctx.buffer(input))
            if let r = try rescale(input, to: outType, node, ctx) {
                calls.append(r)
                source = .scratch
            }
            if s.reduce(1, *) > 0 {
                calls.append(
                    StridedCopyCall(
                        dtype: outType.dtype, source: source, sourceOffset: 0,
                        sourceStrides: Kernels.contiguousStrides(s),
                        output: try ctx.buffer(y), outputOffset: offset * outStrides[axis], outputStrides: outStrides,
                        shape: s))
            }
            offset += s[axis]
        }
        return calls
    }

    static func pad(_ node: Node, pads: [Int], value: Float, _ ctx: LoweringContext) throws -> [any KernelCall] {
        let x = node.inputs[0]
        let t = ctx.type(x)
        var fill = Double(value)
        if t.dtype.isQuantized {
            guard let q = t.quantization else { throw FerccError("quantized Pad input has no quantization") }
            let range = t.dtype.integerRange!
            fill = Double(
                min(
                    max(Int32((value / q.scale).rounded(.toNearestOrAwayFromZero)) + q.zeroPoint, range.lowerBound),
                    range.upperBound))
        }
        return [
            PadCall(
                dtype: t.dtype, shape: t.shape, pads: pads, fill: fill, input: try ctx.buffer(x),
                output: try ctx.buffer(node.outputs[0]))
        ]
    }
}

/// A call that moves elements of any type: `move` runs with the element type of `dtype`.
protocol ElementMoveCall: KernelCall {
    var dtype: DType { get }
    func move<T>(_ m: PlanMemory, _ type: T.Type) -> PreparedCall
}

extension ElementMoveCall {
    func prepare(_ m: PlanMemory) -> PreparedCall {
        switch dtype {
        case .float32: return move(m, Float.self)
        case .int8: return move(m, Int8.self)
        case .uint8: return move(m, UInt8.self)
        case .int32: return move(m, Int32.self)
        case .int64: return move(m, Int64.self)
        }
    }
}

struct CopyCall: ElementMoveCall {
    let dtype: DType
    let count: Int
    let input: Buffer, output: Buffer

    var kernels: [String] { [] }
    var summary: String { "copy \(dtype.rawValue) x\(count) \(input) -> \(output)" }

    func move<T>(_ m: PlanMemory, _: T.Type) -> PreparedCall {
        let x = m.pointer(input, T.self), y = m.pointer(output, T.self), n = count
        return PreparedCall { _ in y.update(from: x, count: n) }
    }

    func emit(_ w: inout SwiftWriter) {
        w.line("\(w.pointer(output, dtype)).update(from: \(w.pointer(input, dtype)), count: \(count))")
    }
}

/// A transpose into `output`, or into the scratch when it is nil (Gemm's transposed A).
struct TransposeCall: ElementMoveCall {
    let dtype: DType
    let shape: [Int], perm: [Int]
    let input: Buffer, output: Buffer?

    var kernels: [String] { ["Data/Transpose.swift"] }
    var summary: String {
        "transpose \(dtype.rawValue) \(shape) perm \(perm) \(input) -> \(output.map { "\($0)" } ?? "scratch")"
    }

    func move<T>(_ m: PlanMemory, _: T.Type) -> PreparedCall {
        let (s, p) = (shape, perm)
        let x = m.pointer(input, T.self), y = output.map { m.pointer($0, T.self) }
        return PreparedCall(scratchBytes: output == nil ? shape.reduce(1, *) * MemoryLayout<T>.stride : 0) { scratch in
            Kernels.transpose(x, s, perm: p, y ?? scratch.assumingMemoryBound(to: T.self))
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let y = output.map { w.pointer($0, dtype) } ?? w.scratch(dtype)
        w.line("Kernels.transpose(\(w.pointer(input, dtype)), \(w.array(shape)), perm: \(w.array(perm)), \(y))")
    }
}

/// Two tensors' channels interleaved per pixel, from channel `offset` of each pixel (`stride`
/// channels apart) on: float32 (`Kernels.interleave`) or one-byte elements
/// (`Kernels.interleaveBytes`, int8 and uint8 alike); an input may be the scratch (a rescaled
/// int8 input).
struct InterleaveCall: KernelCall {
    let dtype: DType
    let a: StridedCopyCall.Source, b: StridedCopyCall.Source
    let offset: Int, stride: Int
    let output: Buffer
    let pixels: Int, half: Int

    var kernels: [String] { ["Data/Transpose.swift"] }
    var summary: String {
        "interleave \(dtype.rawValue) \(pixels) x 2 x \(half) \(a.name), \(b.name) [\(offset)] -> \(output)"
    }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        if dtype == .float32 {
            return move(m, Float.self) { Kernels.interleave($0, $1, stride: $2, $3, pixels: $4, half: $5) }
        }
        return move(m, Int8.self) { Kernels.interleaveBytes($0, $1, stride: $2, $3, pixels: $4, half: $5) }
    }

    func move<T>(
        _ m: PlanMemory, _: T.Type,
        _ kernel: @escaping (UnsafePointer<T>, UnsafePointer<T>, Int, UnsafeMutablePointer<T>, Int, Int) -> Void
    ) -> PreparedCall {
        func pointer(_ s: StridedCopyCall.Source) -> UnsafeMutablePointer<T>? {
            if case .buffer(let b) = s { return m.pointer(b, T.self) + offset }
            return nil
        }
        let (x, z, y) = (pointer(a), pointer(b), m.pointer(output, T.self))
        let (p, h, s, o) = (pixels, half, stride, offset)
        return PreparedCall { scratch in
            let fromScratch = scratch.assumingMemoryBound(to: T.self) + o
            kernel(x ?? fromScratch, z ?? fromScratch, s, y, p, h)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        let at = offset == 0 ? "" : " + \(offset)"
        let (kernel, view): (String, DType) = dtype == .float32 ? ("interleave", .float32) : ("interleaveBytes", .int8)
        func pointer(_ s: StridedCopyCall.Source) -> String {
            if case .buffer(let b) = s { return w.pointer(b, view) + at }
            return w.scratch(view) + at
        }
        w.line(
            "Kernels.\(kernel)(\(pointer(a)), \(pointer(b)), stride: \(stride), "
                + "\(w.pointer(output, view)), pixels: \(pixels), half: \(half))")
    }
}

struct StridedCopyCall: ElementMoveCall {
    enum Source {
        case buffer(Buffer), scratch

        var name: String {
            switch self {
            case .buffer(let b): return "\(b)"
            case .scratch: return "scratch"
            }
        }
    }
    let dtype: DType
    let source: Source
    let sourceOffset: Int, sourceStrides: [Int]
    let output: Buffer
    let outputOffset: Int, outputStrides: [Int]
    let shape: [Int]

    var kernels: [String] { ["Data/StridedCopy.swift"] }
    var summary: String {
        "stridedCopy \(dtype.rawValue) \(shape) \(source.name)[\(sourceOffset)] -> \(output)[\(outputOffset)]"
    }

    func move<T>(_ m: PlanMemory, _: T.Type) -> PreparedCall {
        let (ss, ds, s, so, oo) = (sourceStrides, outputStrides, shape, sourceOffset, outputOffset)
        var x: UnsafeMutablePointer<T>?
        if case .buffer(let b) = source { x = m.pointer(b, T.self) }
        let y = m.pointer(output, T.self)
        return PreparedCall { scratch in
            Kernels.stridedCopy(UnsafePointer((x ?? scratch.assumingMemoryBound(to: T.self)) + so), ss, y + oo, ds, s)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        var x: String
        switch source {
        case .buffer(let b): x = w.pointer(b, dtype)
        case .scratch: x = w.scratch(dtype)
        }
        if sourceOffset != 0 { x += " + \(sourceOffset)" }
        let y = w.pointer(output, dtype) + (outputOffset != 0 ? " + \(outputOffset)" : "")
        w.line(
            "Kernels.stridedCopy(\(x), \(w.array(sourceStrides)), \(y), \(w.array(outputStrides)), \(w.array(shape)))")
    }
}

/// int8 to int8 through float into the scratch (a Concat input with other quantization).
struct RescaleCall: KernelCall {
    let scale: Float, bias: Float
    let outputZeroPoint: Int32
    let count: Int
    let input: Buffer

    var kernels: [String] { ["Int8/Quantize.swift"] }
    var summary: String { "rescaleInt8 x\(count) \(input) -> scratch" }

    func prepare(_ m: PlanMemory) -> PreparedCall {
        let (s, b, z, n) = (scale, bias, outputZeroPoint, count)
        let x = m.pointer(input, Int8.self)
        return PreparedCall(scratchBytes: count) {
            Kernels.rescaleInt8(
                x, $0.assumingMemoryBound(to: Int8.self), count: n, scale: s, bias: b, outputZeroPoint: z)
        }
    }

    func emit(_ w: inout SwiftWriter) {
        w.scratch(bytes: count)
        w.line(
            "Kernels.rescaleInt8(\(w.pointer(input, .int8)), \(w.scratch(.int8)), count: \(count), scale: "
                + "\(SwiftWriter.float(scale)), "
                + "bias: \(SwiftWriter.float(bias)), outputZeroPoint: \(outputZeroPoint))")
    }
}

struct PadCall: ElementMoveCall {
    let dtype: DType
    let shape: [Int], pads: [Int]
    /// The fill value: a float, or the quantized integer.
    let fill: Double
    let input: Buffer, output: Buffer

    var kernels: [String] { ["Data/Pad.swift"] }
    var summary: String { "pad \(dtype.rawValue) \(shape) pads \(pads) \(input) -> \(output)" }

    func move<T>(_ m: PlanMemory, _: T.Type) -> PreparedCall {
        let value: T
        switch dtype {
        case .float32: value = Float(fill) as! T
        case .int8: value = Int8(fill) as! T
        case .uint8: value = UInt8(fill) as! T
        case .int32: value = Int32(fill) as! T
        case .int64: value = Int64(fill) as! T
        }
        let (s, p) = (shape, pads)
        let x = m.pointer(input, T.self), y = m.pointer(output, T.self)
        return PreparedCall { _ in Kernels.pad(x, s, pads: p, value: value, y) }
    }

    func emit(_ w: inout SwiftWriter) {
        let value: String
        switch dtype {
        case .float32: value = SwiftWriter.float(Float(fill))
        case .int8: value = "Int8(\(Int(fill)))"
        case .uint8: value = "UInt8(\(Int(fill)))"
        case .int32: value = "Int32(\(Int(fill)))"
        case .int64: value = "Int64(\(Int(fill)))"
        }
        w.line(
            "Kernels.pad(\(w.pointer(input, dtype)), \(w.array(shape)), pads: \(w.array(pads)), value: \(value), "
                + "\(w.pointer(output, dtype)))"
        )
    }
}
