import FerccIR
import FerccKernels

/// Lowers an optimized graph into an execution plan: each node becomes kernel calls with their
/// geometry, packed weights and arena offsets resolved. The interpreter runs the plan and the
/// code generator prints it, so an op is lowered once (docs/adding-an-op.md: one file per op
/// family under Ops/, float and int8 together).
public enum Lowering {
    /// With `reuseArena` false every value keeps its own bytes, so that all of them can be read
    /// after a run (calibration, `fercc run --dump`). With `winograd` false every float 3x3
    /// convolution runs on the direct kernel (no transformed weights kept in memory).
    public static func plan(_ graph: Graph, target: Target, reuseArena: Bool = true, winograd: Bool = true) throws
        -> ExecutionPlan
    {
        let ctx = LoweringContext(
            graph: graph, target: target, arena: ArenaPlanner.plan(graph, reuse: reuseArena), winograd: winograd)
        var steps: [PlannedStep] = []
        for node in graph.nodes {
            do {
                steps.append(PlannedStep(node: node, calls: try lower(node, ctx)))
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
        }
        // Graph outputs that are constants are read from the weights.
        for name in graph.outputs where graph.values[name]?.isConstant == true { _ = try ctx.buffer(name) }
        return ExecutionPlan(
            graph: graph, target: target, steps: steps, arena: ctx.arena, weights: ctx.blob,
            constantOffsets: ctx.constantOffsets)
    }

    /// Throws what lowering `node` would throw: whether the kernels take it as it is (its element
    /// types and quantization parameters), without planning the graph.
    public static func check(_ node: Node, in graph: Graph, target: Target = .build) throws {
        let ctx = LoweringContext(
            graph: graph, target: target, arena: ArenaPlan(offsets: [:], bytes: 0, totalBytes: 0), checking: true)
        _ = try lower(node, ctx)
    }

    /// The one place that maps an op to the file that lowers it.
    static func lower(_ node: Node, _ ctx: LoweringContext) throws -> [any KernelCall] {
        for name in node.inputs + node.outputs where ctx.type(name).dtype == .int64 {
            throw FerccError("\(node.op.name) on int64 tensors is not supported at run time")
        }
        switch node.op {
        case .conv2D(let c): return try ConvLowering.conv(node, c, ctx)
        case .depthwisePointwise(let dw, let pw, let q, let r):
            return try ConvLowering.depthwisePointwise(node, dw, pw, q, r, ctx)
        case .expandDepthwisePointwise(let ex, let dw, let pw, let r):
            return try ConvLowering.expandDepthwisePointwise(node, ex, dw, pw, r, ctx)
        case .maxPool2D(let p): return try PoolLowering.pool(node, p, average: nil, ctx)
        case .averagePool2D(let p, let includePad): return try PoolLowering.pool(node, p, average: includePad, ctx)
        case .gemm(let g): return try GemmLowering.gemm(node, g, ctx)
        case .matMul: return try GemmLowering.matMul(node, ctx)
        case .binary(let op, let a): return try ElementwiseLowering.binary(node, op, a, ctx)
        case .unary(let a): return try ElementwiseLowering.unary(node, a, ctx)
        case .prelu: return try ElementwiseLowering.prelu(node, ctx)
        case .batchNorm(let axis, let epsilon):
            return try ElementwiseLowering.batchNorm(node, axis: axis, epsilon: epsilon, ctx)
        case .reduce(let kind, let axes, _): return try ReduceLowering.reduce(node, kind, axes: axes, ctx)
        case .softmax(let axis, let beta): return try ReduceLowering.softmax(node, axis: axis, beta: beta, ctx)
        case .resize2D(let r): return try ResizeLowering.resize(node, r, ctx)
        case .reshape: return try DataMovementLowering.reshape(node, ctx)
        case .transpose(let perm): return try DataMovementLowering.transpose(node, perm: perm, ctx)
        case .channelShuffle(let groups, let axis):
            return try DataMovementLowering.channelShuffle(node, groups: groups, axis: axis, ctx)
        case .interleave(let axis, _): return try DataMovementLowering.interleave(node, axis: axis, ctx)
        case .slice(let s): return try DataMovementLowering.slice(node, s, ctx)
        case .split(let axis, _): return try DataMovementLowering.split(node, axis: axis, ctx)
        case .concat(let axis): return try DataMovementLowering.concat(node, axis: axis, ctx)
        case .pad(let pads, let value): return try DataMovementLowering.pad(node, pads: pads, value: value, ctx)
        case .quantize(let dtype): return try QuantizationLowering.quantize(node, to: dtype, ctx)
        case .dequantize: return try QuantizationLowering.dequantize(node, ctx)
        case .dynamicQuantize(let asymmetric):
            return try QuantizationLowering.dynamicQuantize(node, asymmetric: asymmetric, ctx)
        }
    }
}

/// The state of one lowering: where every value lives and the weights blob being built.
final class LoweringContext {
    let graph: Graph
    let target: Target
    let arena: ArenaPlan
    /// Only checking whether nodes lower: activations get no arena slots.
    let checking: Bool
    /// Float 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) or F(4x4, 3x3) where it applies.
    let winograd: Bool
    private(set) var blob: [UInt8] = []
    private(set) var constantOffsets: [String: Int] = [:]

    init(graph: Graph, target: Target, arena: ArenaPlan, checking: Bool = false, winograd: Bool = true) {
        self.winograd = winograd
        self.graph = graph
        self.target = target
        self.arena = arena
        self.checking = checking
    }

    func type(_ name: String) -> TensorType { graph.values[name]!.type }
    func shape(_ name: String) -> [Int] { type(name).shape }
    func count(_ name: String) -> Int { type(name).count }
    func constant(_ name: String) -> TensorData? { graph.values[name]?.constant }
    func isConstant(_ name: String) -> Bool { graph.values[name]?.isConstant == true }

    /// Appends `values` to the weights, 64-byte aligned; returns their byte offset.
    func add<T>(_ values: [T]) -> Int {
        while blob.count % 64 != 0 { blob.append(0) }
        let offset = blob.count
        values.withUnsafeBytes { blob.append(contentsOf: $0) }
        return offset
    }

    /// Where value `name` lives: its arena slot, or its data in the weights (added once).
    func buffer(_ name: String) throws -> Buffer {
        if let o = arena.offsets[name] { return .arena(o) }
        if let o = constantOffsets[name] { return .weights(o) }
        guard let c = constant(name) else {
            if checking { return .arena(0) }
            throw FerccError("'\(name)' has no arena slot")
        }
        let o: Int
        switch c {
        case .float(let v): o = add(v)
        case .int8(let v): o = add(v)
        case .uint8(let v): o = add(v)
        case .int32(let v): o = add(v)
        case .int64: throw FerccError("'\(name)' is int64: not supported at run time")
        }
        constantOffsets[name] = o
        return .weights(o)
    }

    /// Constant float data of `name` (nil when computed at run time).
    func floats(_ name: String) -> [Float]? { constant(name)?.floats }
}
