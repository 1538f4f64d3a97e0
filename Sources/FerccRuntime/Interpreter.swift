import FerccIR
import FerccKernels

/// Runs an IR graph with the Kernels target: float32 graphs, and quantized graphs with TFLite's
/// integer arithmetic. Weights are packed once at init, so one interpreter serves many inferences
/// (calibration runs hundreds). Activations are freed after their last use.
public final class Interpreter {
    public let graph: Graph
    typealias Step = ([RuntimeTensor]) -> [RuntimeTensor]
    private var steps: [Step] = []
    /// For each node, the values whose last reader it is.
    private var releases: [[String]] = []
    private var constants: [String: RuntimeTensor] = [:]

    public init(graph: Graph) throws {
        self.graph = graph
        for (name, v) in graph.values {
            if let c = v.constant, let t = RuntimeTensor(c) { constants[name] = t }
        }
        for node in graph.nodes {
            do {
                steps.append(try Self.prepare(node, graph))
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
        }
        var lastUse: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for input in n.inputs { lastUse[input] = i } }
        releases = Array(repeating: [], count: graph.nodes.count)
        let keep = Set(graph.outputs)
        for (name, i) in lastUse where !keep.contains(name) && graph.values[name]?.isConstant == false {
            releases[i].append(name)
        }
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
    public func run(tensors inputs: [String: RuntimeTensor], keepingAll: Bool = false) throws -> [String: RuntimeTensor] {
        var env: [String: RuntimeTensor] = [:]
        for name in graph.inputs {
            guard let data = inputs[name] else { throw FerccError("missing input '\(name)'") }
            let t = graph.values[name]!.type
            guard data.count == t.count else {
                throw FerccError("input '\(name)' has \(data.count) elements, the model expects \(t) (\(t.count))")
            }
            guard data.dtype == t.dtype else {
                throw FerccError("input '\(name)' is \(data.dtype.rawValue), the model expects \(t.dtype.rawValue)")
            }
            env[name] = data
        }
        for name in inputs.keys where !graph.inputs.contains(name) {
            throw FerccError("'\(name)' is not an input of the model (inputs: \(graph.inputs.joined(separator: ", ")))")
        }
        for (i, node) in graph.nodes.enumerated() {
            let args = node.inputs.map { env[$0] ?? constants[$0]! }
            let outs = steps[i](args)
            for (name, data) in zip(node.outputs, outs) { env[name] = data }
            if !keepingAll { for name in releases[i] { env[name] = nil } }
        }
        if keepingAll { return env }
        var result: [String: RuntimeTensor] = [:]
        for name in graph.outputs { result[name] = env[name] ?? constants[name] }
        return result
    }

    static func prepare(_ node: Node, _ graph: Graph) throws -> Step {
        let inTypes = node.inputs.map { graph.values[$0]!.type }
        let outTypes = node.outputs.map { graph.values[$0]!.type }
        for t in inTypes + outTypes where t.dtype == .int64 {
            throw FerccError("\(node.op.name) on int64 tensors is not supported at run time")
        }
        if let step = try prepareDataMovement(node, graph, inTypes, outTypes) { return step }
        if inTypes.first?.dtype.isQuantized == true || outTypes.first?.dtype.isQuantized == true {
            return try prepareQuantized(node, graph, inTypes, outTypes)
        }
        for t in inTypes + outTypes where t.dtype != .float32 {
            throw FerccError("\(node.op.name) on \(t.dtype.rawValue) tensors is not supported")
        }
        let float = try prepareFloat(node, graph, inTypes, outTypes)
        return { args in float(args.map { $0.floats! }).map { .float($0) } }
    }

    /// Ops that move elements without arithmetic run the same on every element type.
    static func prepareDataMovement(_ node: Node, _ graph: Graph, _ inTypes: [TensorType], _ outTypes: [TensorType]) throws -> Step? {
        switch node.op {
        case .reshape:
            return { args in [args[0]] }
        case .channelShuffle(let groups, let axis):
            let shape = inTypes[0].shape
            let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
            let move = TransposeMove(shape: [outer, groups, shape[axis] / groups, inner], perm: [0, 2, 1, 3])
            return { args in [args[0].moved(move)] }
        case .transpose(let perm):
            let move = TransposeMove(shape: inTypes[0].shape, perm: perm)
            return { args in [args[0].moved(move)] }
        case .slice(let s):
            let inStrides = contiguousStrides(inTypes[0].shape)
            let base = zip(s.starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let move = SliceMove(base: base, strides: zip(s.steps, inStrides).map { $0 * $1 }, sizes: s.sizes)
            return { args in [args[0].moved(move)] }
        case .split(let axis, _):
            let shape = inTypes[0].shape
            let inStrides = contiguousStrides(shape)
            var moves: [SliceMove] = []
            var offset = 0
            for t in outTypes {
                moves.append(SliceMove(base: offset * inStrides[axis], strides: inStrides, sizes: t.shape))
                offset += t.shape[axis]
            }
            return { args in moves.map { args[0].moved($0) } }
        case .concat(let axis):
            let q = outTypes[0].quantization
            let sameParams = inTypes.allSatisfy { $0.quantization == nil || ($0.quantization?.scale == q?.scale && $0.quantization?.zeroPoint == q?.zeroPoint) }
            guard !outTypes[0].dtype.isQuantized || sameParams else { return nil }  // requantizing concat
            let shapes = inTypes.map(\.shape), outShape = outTypes[0].shape
            return { args in [concatenate(args, shapes: shapes, axis: axis, outShape: outShape)] }
        case .pad(let pads, let value):
            let shape = inTypes[0].shape, count = outTypes[0].count
            switch inTypes[0].dtype {
            case .float32:
                let move = PadMove(shape: shape, pads: pads, fill: value, outCount: count)
                return { args in [args[0].moved(move)] }
            case .int8, .uint8:
                guard let q = inTypes[0].quantization else { throw FerccError("quantized Pad input has no quantization") }
                let range = inTypes[0].dtype.integerRange!
                let qv = min(max(Int32((value / q.scale).rounded(.toNearestOrAwayFromZero)) + q.zeroPoint, range.lowerBound), range.upperBound)
                if inTypes[0].dtype == .int8 {
                    let move = PadMove(shape: shape, pads: pads, fill: Int8(qv), outCount: count)
                    return { args in [args[0].moved(move)] }
                }
                let move = PadMove(shape: shape, pads: pads, fill: UInt8(qv), outCount: count)
                return { args in [args[0].moved(move)] }
            default:
                throw FerccError("Pad on \(inTypes[0].dtype.rawValue)")
            }
        default:
            return nil
        }
    }

    static func constant(_ graph: Graph, _ name: String) -> [Float]? {
        graph.values[name]?.constant?.floats
    }
}

/// A row-major [rows, cols] matrix transposed (weights at import, quantization and pass time).
public func transposed2D(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}

func geometry(_ x: [Int], _ y: [Int], kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, dilationH: Int, dilationW: Int,
              padTop: Int, padLeft: Int, padBottom: Int, padRight: Int, groups: Int) -> Conv2DGeometry {
    Conv2DGeometry(batch: x[0], inH: x[1], inW: x[2], inC: x[3], outH: y[1], outW: y[2], outC: y[3],
                   kernelH: kernelH, kernelW: kernelW, strideH: strideH, strideW: strideW,
                   dilationH: dilationH, dilationW: dilationW,
                   padTop: padTop, padLeft: padLeft, padBottom: padBottom, padRight: padRight, groups: groups)
}

extension Conv2D {
    func geometry(_ x: [Int], _ y: [Int]) -> Conv2DGeometry {
        FerccRuntime.geometry(x, y, kernelH: kernelH, kernelW: kernelW, strideH: strideH, strideW: strideW,
                              dilationH: dilationH, dilationW: dilationW,
                              padTop: padTop, padLeft: padLeft, padBottom: padBottom, padRight: padRight, groups: groups)
    }
}

extension Pool2D {
    func geometry(_ x: [Int], _ y: [Int]) -> Conv2DGeometry {
        FerccRuntime.geometry(x, y, kernelH: kernelH, kernelW: kernelW, strideH: strideH, strideW: strideW,
                              dilationH: dilationH, dilationW: dilationW,
                              padTop: padTop, padLeft: padLeft, padBottom: padBottom, padRight: padRight, groups: 1)
    }
}

extension FusedActivation {
    /// The kernel activation computing this one.
    var kernelActivation: Activation {
        switch self {
        case .none: return .identity
        case .relu: return .relu
        case .relu6: return .clip(min: 0, max: 6)
        case .reluN1To1: return .clip(min: -1, max: 1)
        case .clip(let lo, let hi): return .clip(min: lo, max: hi)
        case .leakyRelu(let a): return .leakyRelu(alpha: a)
        case .hardSwish: return .hardSwish
        case .sigmoid: return .sigmoid
        }
    }

    /// Applies in place (nothing for .none).
    func apply(_ v: inout [Float]) {
        guard self != .none else { return }
        let act = kernelActivation
        let n = v.count
        v.withUnsafeMutableBufferPointer { act.run($0.baseAddress!, $0.baseAddress!, count: n) }
    }
}
