import FerccIR
import FerccKernels
import FerccLowering

/// Runs an IR graph: float32 graphs, and quantized graphs with TFLite's integer arithmetic. It
/// runs the execution plan the code generator prints (`Lowering.plan`): the same kernel calls,
/// the same packed weights and the same arena, so one lowering serves both. Kernels are built
/// once at init, so one interpreter serves many inferences (calibration runs hundreds); it is
/// not for concurrent use.
public final class Interpreter {
    public let graph: Graph
    public let plan: ExecutionPlan
    private let weights: UnsafeMutableRawPointer
    private let arena: UnsafeMutableRawPointer
    private let scratch: UnsafeMutableRawPointer
    private let runners: [[(UnsafeMutableRawPointer) -> Void]]
    /// Whether every value keeps its own bytes (so that all can be read after a run).
    private let keepsAll: Bool
    private var keepingAllInterpreter: Interpreter?

    /// With `keepingAll`, `run(tensors:)` returns every value the graph computes.
    public init(graph: Graph, keepingAll: Bool = false) throws {
        self.graph = graph
        keepsAll = keepingAll
        plan = try Lowering.plan(graph, target: .build, reuseArena: !keepingAll)
        let weights = UnsafeMutableRawPointer.allocate(byteCount: max(plan.weights.count, 64), alignment: 64)
        plan.weights.withUnsafeBytes {
            if let base = $0.baseAddress { weights.copyMemory(from: base, byteCount: $0.count) }
        }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arena.bytes, 64), alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: max(plan.arena.bytes, 64))
        self.weights = weights
        self.arena = arena
        let memory = PlanMemory(weights: UnsafeRawPointer(weights), arena: arena)
        var scratchBytes = 64
        var runners: [[(UnsafeMutableRawPointer) -> Void]] = []
        for step in plan.steps {
            var calls: [(UnsafeMutableRawPointer) -> Void] = []
            for call in step.calls {
                do {
                    let prepared = try call.prepare(memory)
                    scratchBytes = max(scratchBytes, prepared.scratchBytes)
                    calls.append(prepared.run)
                } catch let e as FerccError {
                    weights.deallocate()
                    arena.deallocate()
                    throw e.atNode(step.node.name)
                }
            }
            runners.append(calls)
        }
        self.runners = runners
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: scratchBytes)
    }

    deinit {
        weights.deallocate()
        arena.deallocate()
        scratch.deallocate()
    }

    /// Runs one inference on float inputs (row-major data of each graph input's type).
    public func run(_ inputs: [String: [Float]]) throws -> [String: [Float]] {
        var tensors: [String: RuntimeTensor] = [:]
        for (name, data) in inputs { tensors[name] = .float(data) }
        let out = try run(tensors: tensors)
        var result: [String: [Float]] = [:]
        for (name, t) in out {
            guard let f = t.floats else {
                throw FerccError("output '\(name)' is \(t.dtype.rawValue): use run(tensors:) or dequantize it")
            }
            result[name] = f
        }
        return result
    }

    /// Runs one inference; each input must have its graph input's element type and size.
    /// With `keepingAll`, returns every value computed (for debugging a conversion), not only the outputs.
    public func run(tensors inputs: [String: RuntimeTensor], keepingAll: Bool = false) throws -> [String: RuntimeTensor]
    {
        if keepingAll && !keepsAll {
            if keepingAllInterpreter == nil { keepingAllInterpreter = try Interpreter(graph: graph, keepingAll: true) }
            return try keepingAllInterpreter!.run(tensors: inputs, keepingAll: true)
        }
        for name in inputs.keys where !graph.inputs.contains(name) {
            throw FerccError("'\(name)' is not an input of the model (inputs: \(graph.inputs.joined(separator: ", ")))")
        }
        for name in graph.inputs {
            guard let data = inputs[name] else { throw FerccError("missing input '\(name)'") }
            let t = graph.values[name]!.type
            guard data.count == t.count else {
                throw FerccError("input '\(name)' has \(data.count) elements, the model expects \(t) (\(t.count))")
            }
            guard data.dtype == t.dtype else {
                throw FerccError("input '\(name)' is \(data.dtype.rawValue), the model expects \(t.dtype.rawValue)")
            }
            guard let buffer = plan.buffer(of: name), case .arena(let offset) = buffer else { continue }
            data.write(to: arena + offset)
        }
        for calls in runners { for run in calls { run(scratch) } }
        var result: [String: RuntimeTensor] = [:]
        let names = keepingAll ? graph.nodes.flatMap(\.outputs) + graph.inputs : graph.outputs
        for name in names { result[name] = read(name) }
        return result
    }

    /// The current contents of value `name`.
    func read(_ name: String) -> RuntimeTensor? {
        guard let t = graph.values[name]?.type, let buffer = plan.buffer(of: name) else { return nil }
        let p: UnsafeRawPointer
        switch buffer {
        case .arena(let o): p = UnsafeRawPointer(arena + o)
        case .weights(let o): p = UnsafeRawPointer(weights + o)
        }
        return RuntimeTensor(reading: p, dtype: t.dtype, count: t.count)
    }
}

extension RuntimeTensor {
    /// Copies the elements into memory at `p`.
    func write(to p: UnsafeMutableRawPointer) {
        switch self {
        case .float(let v): v.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        case .int8(let v): v.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        case .uint8(let v): v.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        case .int32(let v): v.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// `count` elements of `dtype` read from `p` (nil for int64, which never reaches run time).
    init?(reading p: UnsafeRawPointer, dtype: DType, count: Int) {
        switch dtype {
        case .float32:
            self = .float(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: count)))
        case .int8: self = .int8(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int8.self), count: count)))
        case .uint8:
            self = .uint8(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: count)))
        case .int32:
            self = .int32(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int32.self), count: count)))
        case .int64: return nil
        }
    }
}

/// A row-major [rows, cols] matrix transposed (weights at import, quantization and pass time).
public func transposed2D(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}
