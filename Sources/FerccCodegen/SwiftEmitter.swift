import FerccIR
import FerccKernels
import FerccLowering

/// Emits a self-contained Swift inference class for an IR graph: the execution plan the
/// interpreter runs (`Lowering.plan`), printed as kernel constructions and calls over one arena
/// and the weights blob, with the source of exactly the kernels it uses. Standard library only.
public enum SwiftEmitter {
    public static func emit(_ graph: Graph, options: CodegenOptions) throws -> GeneratedCode {
        guard options.target != .host else {
            throw FerccError("resolve --target host to a concrete target before emitting")
        }
        for name in graph.inputs + graph.outputs {
            let t = graph.values[name]!.type
            guard t.dtype == .float32 || t.dtype == .int8 else {
                throw FerccError(
                    "'\(name)' is \(t.dtype.rawValue): generated code takes and returns float32 or int8 tensors")
            }
        }
        if let labels = options.labels {
            guard graph.outputs.count == 1 else {
                throw FerccError(
                    "--labels needs a model with one output (this one has \(graph.outputs.count)): classify(_:) "
                        + "ranks it")
            }
            let count = graph.values[graph.outputs[0]]!.type.count
            guard labels.count == count else {
                throw FerccError(
                    "--labels names \(labels.count) classes, but the output '\(graph.outputs[0])' has \(count) values")
            }
        }
        if let image = options.imageInput {
            guard graph.inputs.count == 1 else {
                throw FerccError("the pixel API needs a model with one input (this one has \(graph.inputs.count))")
            }
            let count = graph.values[graph.inputs[0]]!.type.count
            guard image.width * image.height * image.channels == count else {
                throw FerccError(
                    "the pixel API's \(image.width)x\(image.height)x\(image.channels) image does not fill the input "
                        + "'\(graph.inputs[0])' of \(count) values")
            }
        }
        let plan = try Lowering.plan(graph, target: options.target, winograd: options.winograd)
        for name in graph.inputs {
            guard case .arena? = plan.buffer(of: name) else {
                throw FerccError("the input '\(name)' is not used by the model: nothing to compile for it")
            }
        }
        for name in graph.outputs where plan.buffer(of: name) == nil {
            throw FerccError("the output '\(name)' has no value in the plan")
        }
        guard Set(graph.outputs).isDisjoint(with: graph.inputs) else {
            throw FerccError("the model's output is its input: nothing to compile")
        }
        var w = SwiftWriter()
        var layers: [LayerReport] = []
        for (i, step) in plan.steps.enumerated() {
            w.line("// \(step.node.op.name) \(SwiftNames.commentText(step.node.name))")
            for call in step.calls {
                do {
                    try call.emit(&w)
                } catch let e as FerccError {
                    throw e.atNode(step.node.name)
                }
            }
            w.line("mark(\(i))")
            let s = graph.stats(of: step.node)
            layers.append(
                LayerReport(
                    index: i, name: step.node.name, op: step.node.op.name,
                    output_shape: graph.values[step.node.outputs[0]]!.type.shape, weight_bytes: s.weightBytes,
                    macs: s.macs))
        }
        var kernels = plan.kernelFiles
        kernels.insert("Common/Memory.swift")  // the initializer's allocation, which may fail softly
        if (graph.inputs + graph.outputs).contains(where: { graph.values[$0]!.type.dtype == .int8 }) {
            kernels.insert("Int8/Quantize.swift")
        }
        if options.labels != nil { kernels.insert("Common/Math.swift") }
        if options.imageInput != nil { kernels.insert("Data/ImageInput.swift") }
        let file = GeneratedFile(
            graph: graph, plan: plan, options: options, writer: w,
            kernelText: try KernelSourceIndex.text(for: kernels, target: options.target))
        let arguments = file.pointerArguments
        return GeneratedCode(
            kernelSource: file.render(), weightsSource: options.weights == .embedded ? file.renderWeights() : nil,
            weightsFile: options.weights == .file ? plan.weights : nil, arena: plan.arena,
            scratchBytes: try checkedScratchBytes(plan, limit: options.maxMemory), weightBytes: plan.weights.count,
            layers: layers, plan: plan, inputArguments: arguments.inputs, outputArguments: arguments.outputs)
    }

    /// The plan's scratch, after checking that its weights and arena, then all three together, fit
    /// within `limit` (`--max-memory`): the size generated code's initializer will ask for.
    static func checkedScratchBytes(_ plan: ExecutionPlan, limit: Int) throws -> Int {
        func check(_ parts: [(String, Int)]) throws {
            let total = parts.reduce(0) { $0.addingReportingOverflow($1.1).overflow ? Int.max : $0 + $1.1 }
            guard total <= limit else {
                throw FerccError(
                    "the generated model needs \(describeBytes(total)) ("
                        + parts.map { "\($0.0) \(describeBytes($0.1))" }.joined(separator: ", ")
                        + "), more than the memory limit of \(describeBytes(limit)) (--max-memory)")
            }
        }
        let kernels = plan.steps.reduce(0) { $0 + $1.calls.reduce(0) { $0 + $1.ownedBytes } }
        var parts = [("weights", plan.weights.count), ("activations", plan.arena.bytes)]
        if kernels > 0 { parts.append(("kernels' own", kernels)) }
        try check(parts)
        let scratch = try scratchBytes(plan)
        try check(parts + [("scratch", scratch)])
        return scratch
    }

    /// The scratch this build's kernels need for the plan (the report's number; generated code
    /// computes its own, for the paths it compiles).
    static func scratchBytes(_ plan: ExecutionPlan) throws -> Int {
        guard let weights = Kernels.allocateZeroed(byteCount: plan.weights.count) else {
            throw FerccError("cannot allocate \(describeBytes(plan.weights.count)) for the weights")
        }
        defer { weights.deallocate() }
        guard let arena = Kernels.allocateZeroed(byteCount: plan.arena.bytes) else {
            throw FerccError("cannot allocate \(describeBytes(plan.arena.bytes)) for the activations")
        }
        defer { arena.deallocate() }
        plan.weights.withUnsafeBytes { if let b = $0.baseAddress { weights.copyMemory(from: b, byteCount: $0.count) } }
        let memory = PlanMemory(weights: UnsafeRawPointer(weights), arena: arena)
        var bytes = 0
        for step in plan.steps { for call in step.calls { bytes = max(bytes, try call.prepare(memory).scratchBytes) } }
        return bytes
    }
}
