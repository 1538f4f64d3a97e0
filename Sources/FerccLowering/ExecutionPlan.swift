import FerccIR
import FerccKernels

/// Where a tensor lives while a plan runs: at a byte offset of the arena (activations, the
/// scratch-free working memory the planner packs by lifetime) or of the weights (constants, in
/// the layouts their kernels read).
public enum Buffer: Equatable, Hashable, Sendable, CustomStringConvertible {
    case arena(Int)
    case weights(Int)

    public var description: String {
        switch self {
        case .arena(let o): return "arena+\(o)"
        case .weights(let o): return "weights+\(o)"
        }
    }
}

/// One kernel invocation of a plan: what the interpreter runs and the code generator prints,
/// from the same resolved parameters (an op is lowered once, for both).
public protocol KernelCall {
    /// The kernel files (paths under Sources/FerccKernels) that generated code needs for it.
    var kernels: [String] { get }
    /// One line for `fercc inspect --plan`: the kernel and what it works on.
    var summary: String { get }
    /// The interpreter's form: the call prepared once (kernels built over `memory`), run many times.
    func prepare(_ memory: PlanMemory) throws -> PreparedCall
    /// The generated code's form.
    func emit(_ w: inout SwiftWriter) throws
    /// Bytes the call's kernel allocates for itself when it is made and keeps (besides the
    /// weights, arena and scratch): Winograd's transformed weights.
    var ownedBytes: Int { get }
}

extension KernelCall {
    public var ownedBytes: Int { 0 }
}

/// A call ready to run: the scratch bytes it needs (all calls share one scratch buffer) and
/// what runs it, given that buffer.
public struct PreparedCall {
    public var scratchBytes: Int
    public var run: (UnsafeMutableRawPointer) -> Void

    public init(scratchBytes: Int = 0, _ run: @escaping (UnsafeMutableRawPointer) -> Void) {
        self.scratchBytes = scratchBytes
        self.run = run
    }
}

/// A node of the graph as the plan runs it: its kernel calls, in order.
public struct PlannedStep {
    public var node: Node
    public var calls: [any KernelCall]
}

/// A graph lowered for one target: every node as kernel calls over one arena and one weights
/// blob. The interpreter runs it; the code generator prints it.
public struct ExecutionPlan {
    public let graph: Graph
    public let target: Target
    public var steps: [PlannedStep]
    public let arena: ArenaPlan
    /// The weights blob: packed weights, biases and integer tables, each 64-byte aligned.
    public let weights: [UInt8]

    /// Where a value of the graph lives (nil for values no node reads or writes).
    public func buffer(of value: String) -> Buffer? {
        if let o = arena.offsets[value] { return .arena(o) }
        if let o = constantOffsets[value] { return .weights(o) }
        return nil
    }

    let constantOffsets: [String: Int]

    init(
        graph: Graph, target: Target, steps: [PlannedStep], arena: ArenaPlan, weights: [UInt8],
        constantOffsets: [String: Int]
    ) {
        self.graph = graph
        self.target = target
        self.steps = steps
        self.arena = arena
        self.weights = weights
        self.constantOffsets = constantOffsets
    }

    /// Every kernel file the generated code needs, with what they require, for the target.
    public var kernelFiles: Set<String> { Set(steps.flatMap { $0.calls.flatMap(\.kernels) }) }

    /// The plan as text: one line per call (`fercc inspect --plan`).
    public var summary: String {
        var lines = ["plan for \(target.rawValue): arena \(arena.bytes) bytes, weights \(weights.count) bytes"]
        for step in steps {
            for call in step.calls { lines.append("\(step.node.name): \(call.summary)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// The memory a plan runs on in the interpreter: the weights blob and the arena.
public struct PlanMemory {
    public let weights: UnsafeRawPointer
    public let arena: UnsafeMutableRawPointer

    public init(weights: UnsafeRawPointer, arena: UnsafeMutableRawPointer) {
        self.weights = weights
        self.arena = arena
    }

    /// The start of `buffer`. Calls only write to arena buffers.
    public func raw(_ buffer: Buffer) -> UnsafeMutableRawPointer {
        switch buffer {
        case .arena(let o): return arena + o
        case .weights(let o): return UnsafeMutableRawPointer(mutating: weights + o)
        }
    }

    public func pointer<T>(_ buffer: Buffer, _: T.Type = T.self) -> UnsafeMutablePointer<T> {
        raw(buffer).assumingMemoryBound(to: T.self)
    }

    /// Typed pointers into the weights.
    public func weights<T>(_ offset: Int, _: T.Type = T.self) -> UnsafePointer<T> {
        (weights + offset).assumingMemoryBound(to: T.self)
    }
}
