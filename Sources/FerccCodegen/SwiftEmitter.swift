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
        guard graph.inputs.count == 1, graph.outputs.count == 1 else {
            throw FerccError(
                "the code generator handles one input and one output (the model has \(graph.inputs.count) and "
                    + "\(graph.outputs.count))"
            )
        }
        for name in graph.inputs + graph.outputs {
            let t = graph.values[name]!.type
            guard t.dtype == .float32 || t.dtype == .int8 else {
                throw FerccError(
                    "'\(name)' is \(t.dtype.rawValue): generated code takes and returns float32 or int8 tensors")
            }
        }
        if let labels = options.labels {
            let count = graph.values[graph.outputs[0]]!.type.count
            guard labels.count == count else {
                throw FerccError(
                    "--labels names \(labels.count) classes, but the output '\(graph.outputs[0])' has \(count) values")
            }
        }
        let plan = try Lowering.plan(graph, target: options.target)
        guard case .arena? = plan.buffer(of: graph.inputs[0]), plan.buffer(of: graph.outputs[0]) != nil else {
            throw FerccError("the model's output is its input or a constant: nothing to compile")
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
        let inType = graph.values[graph.inputs[0]]!.type, outType = graph.values[graph.outputs[0]]!.type
        if inType.dtype == .int8 || outType.dtype == .int8 { kernels.insert("Int8/Quantize.swift") }
        if options.labels != nil { kernels.insert("Common/Math.swift") }
        let file = GeneratedFile(
            graph: graph, plan: plan, options: options, writer: w,
            kernelText: try KernelSourceIndex.text(for: kernels, target: options.target))
        return GeneratedCode(
            kernelSource: file.render(), weightsSource: options.weights == .embedded ? file.renderWeights() : nil,
            weightsFile: options.weights == .file ? plan.weights : nil, arena: plan.arena,
            scratchBytes: try scratchBytes(plan), weightBytes: plan.weights.count, layers: layers, plan: plan)
    }

    /// The scratch this build's kernels need for the plan (the report's number; generated code
    /// computes its own, for the paths it compiles).
    static func scratchBytes(_ plan: ExecutionPlan) throws -> Int {
        let weights = UnsafeMutableRawPointer.allocate(byteCount: max(plan.weights.count, 64), alignment: 64)
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arena.bytes, 64), alignment: 64)
        defer { weights.deallocate(); arena.deallocate() }
        plan.weights.withUnsafeBytes { if let b = $0.baseAddress { weights.copyMemory(from: b, byteCount: $0.count) } }
        let memory = PlanMemory(weights: UnsafeRawPointer(weights), arena: arena)
        var bytes = 0
        for step in plan.steps { for call in step.calls { bytes = max(bytes, try call.prepare(memory).scratchBytes) } }
        return bytes
    }
}
