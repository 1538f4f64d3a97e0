import Fercc
import FerccIR
import FerccONNX
import FerccPasses
import FerccRuntime
import FerccTFLite
import FerccTestSupport
import Foundation
import XCTest

/// Each pass on a tiny graph: the structure it leaves, and the interpreter's output before and
/// after (within 1e-5 relative); then the whole pipeline on every fixture.
final class PassTests: XCTestCase {
    var rng = SeededRandom(42)

    func constant(_ g: inout Graph, _ name: String, _ shape: [Int], positive: Bool = false) -> String {
        let n = shape.reduce(1, *)
        g.addConstant(name, .float((0..<n).map { _ in positive ? abs(rng.next()) + 0.5 : rng.next() }), shape: shape)
        return name
    }

    func input(_ shape: [Int]) -> Graph {
        var g = Graph(source: GraphSource(format: "test"))
        g.values["x"] = Value(name: "x", type: TensorType(.float32, shape))
        g.inputs = ["x"]
        return g
    }

    func bn(_ g: inout Graph, _ x: String, _ c: Int, axis: Int, out: String) throws {
        let p = [
            constant(&g, "\(out).g", [c]), constant(&g, "\(out).b", [c]), constant(&g, "\(out).m", [c]),
            constant(&g, "\(out).v", [c], positive: true)
        ]
        try g.addNode(Node(name: out, op: .batchNorm(axis: axis, epsilon: 1e-3), inputs: [x] + p, outputs: [out]))
    }

    /// Runs `pipeline`, checks the output is unchanged (within 1e-5, or bit for bit when
    /// `exact`), returns the optimized graph and results.
    @discardableResult
    func check(
        _ g: Graph, _ pipeline: [String], exact: Bool = false, file: StaticString = #filePath, line: UInt = #line
    ) throws -> (Graph, [PassResult]) {
        var feeds: [String: [Float]] = [:]
        for i in g.inputs { feeds[i] = rng.floats(g.values[i]!.type.count) }
        let before = try Interpreter(graph: g).run(feeds)
        var optimized = g
        let results = try PassManager.run(&optimized, pipeline: pipeline)
        let after = try Interpreter(graph: optimized).run(feeds)
        for o in g.outputs where exact {
            XCTAssertEqual(
                after[o]!.map(\.bitPattern), before[o]!.map(\.bitPattern), "output \(o)", file: file, line: line)
        }
        for o in g.outputs where !exact {
            XCTAssertLessThanOrEqual(
                relativeError(after[o]!, before[o]!), 1e-5, "output \(o) changed", file: file, line: line)
        }
        return (optimized, results)
    }

    func ops(_ g: Graph) -> [String] { g.nodes.map(\.op.name) }

    // MARK: fold-batchnorm

    func testFoldBatchNormIntoConvGroupedDepthwiseAndGemm() throws {
        for groups in [1, 2, 8] {
            var g = input([1, 6, 7, 8])
            let w = constant(&g, "w", [8, 3, 3, 8 / groups])
            try g.addNode(
                Node(
                    name: "conv",
                    op: .conv2D(
                        Conv2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: groups)
                    ),
                    inputs: ["x", w], outputs: ["c"]))
            try bn(&g, "c", 8, axis: 3, out: "y")
            g.outputs = ["y"]
            let (opt, results) = try check(g, ["fold-batchnorm"])
            XCTAssertEqual(ops(opt), ["Conv2D"], "groups \(groups)")
            XCTAssertEqual(results[0].changes, 1)
            XCTAssertEqual(opt.nodes[0].inputs.count, 3, "a bias was added")
        }
        var g = input([3, 10])
        try g.addNode(
            Node(
                name: "fc", op: .gemm(Gemm(transB: true)),
                inputs: ["x", constant(&g, "w", [5, 10]), constant(&g, "b", [5])], outputs: ["h"]))
        try bn(&g, "h", 5, axis: 1, out: "y")
        g.outputs = ["y"]
        XCTAssertEqual(ops(try check(g, ["fold-batchnorm"]).0), ["Gemm"])
        var m = input([3, 10])
        try m.addNode(Node(name: "mm", op: .matMul, inputs: ["x", constant(&m, "w", [10, 6])], outputs: ["h"]))
        try bn(&m, "h", 6, axis: 1, out: "y")
        m.outputs = ["y"]
        XCTAssertEqual(ops(try check(m, ["fold-batchnorm"]).0), ["Gemm"], "MatMul + BatchNorm becomes one Gemm")
    }

    func testStandaloneBatchNormBecomesScaleAndShiftAndMulAddPairsFold() throws {
        var g = input([1, 4, 4, 6])
        try bn(&g, "x", 6, axis: 3, out: "y")
        g.outputs = ["y"]
        XCTAssertEqual(ops(try check(g, ["fold-batchnorm"]).0), ["Mul", "Add"])

        // TF-style Conv -> Mul(per-channel) -> Add(per-channel) folds into the convolution.
        var h = input([1, 5, 5, 3])
        try h.addNode(
            Node(
                name: "conv", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1)),
                inputs: ["x", constant(&h, "w", [4, 1, 1, 3])], outputs: ["c"]))
        try h.addNode(Node(name: "mul", op: .binary(.mul), inputs: ["c", constant(&h, "s", [4])], outputs: ["m"]))
        try h.addNode(
            Node(name: "add", op: .binary(.add), inputs: ["m", constant(&h, "t", [1, 1, 1, 4])], outputs: ["y"]))
        h.outputs = ["y"]
        XCTAssertEqual(ops(try check(h, ["fold-batchnorm"]).0), ["Conv2D"])
    }

    func testBatchNormOnASharedConvOutputIsNotFolded() throws {
        var g = input([1, 4, 4, 3])
        try g.addNode(
            Node(
                name: "conv", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1)),
                inputs: ["x", constant(&g, "w", [3, 1, 1, 3])], outputs: ["c"]))
        try bn(&g, "c", 3, axis: 3, out: "y")
        try g.addNode(Node(name: "r", op: .unary(.relu), inputs: ["c"], outputs: ["z"]))
        g.outputs = ["y", "z"]
        XCTAssertEqual(ops(try check(g, ["fold-batchnorm"]).0), ["Conv2D", "Mul", "Add", "Relu"])
    }

    // MARK: fuse-activation

    func testFuseActivationIntoConvGemmAndAdd() throws {
        var g = input([1, 4, 4, 3])
        try g.addNode(
            Node(
                name: "conv", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1)),
                inputs: ["x", constant(&g, "w", [3, 1, 1, 3])], outputs: ["c"]))
        try g.addNode(Node(name: "clip", op: .unary(.clip(min: 0, max: 6)), inputs: ["c"], outputs: ["r"]))
        try g.addNode(Node(name: "add", op: .binary(.add), inputs: ["r", "x"], outputs: ["a"]))
        try g.addNode(Node(name: "leaky", op: .unary(.leakyRelu(alpha: 0.1)), inputs: ["a"], outputs: ["y"]))
        g.outputs = ["y"]
        let (opt, results) = try check(g, ["fuse-activation"])
        XCTAssertEqual(ops(opt), ["Conv2D", "Add"])
        XCTAssertEqual(results[0].changes, 2)
        guard case .conv2D(let c) = opt.nodes[0].op, case .binary(_, let a) = opt.nodes[1].op else { return XCTFail() }
        XCTAssertEqual(c.activation, .relu6)
        XCTAssertEqual(a, .leakyRelu(alpha: 0.1))

        var h = input([2, 8])
        try h.addNode(
            Node(name: "fc", op: .gemm(Gemm(transB: true)), inputs: ["x", constant(&h, "w", [4, 8])], outputs: ["f"]))
        try h.addNode(Node(name: "s", op: .unary(.sigmoid), inputs: ["f"], outputs: ["y"]))
        h.outputs = ["y"]
        XCTAssertEqual(ops(try check(h, ["fuse-activation"]).0), ["Gemm"])
        var k = input([2, 8])
        try k.addNode(
            Node(name: "fc", op: .gemm(Gemm(transB: true)), inputs: ["x", constant(&k, "w", [4, 8])], outputs: ["f"]))
        try k.addNode(Node(name: "hs", op: .unary(.hardSwish), inputs: ["f"], outputs: ["y"]))
        k.outputs = ["y", "f"]
        XCTAssertEqual(
            ops(try check(k, ["fuse-activation"]).0), ["Gemm", "HardSwish"], "a graph output is not fused away")
    }

    // MARK: fuse-depthwise-pointwise

    func depthwiseSeparable(_ shape: [Int], pointwiseStride: Int = 1) throws -> Graph {
        let c = shape[3]
        var g = input(shape)
        let dw = Conv2D(
            kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: c,
            activation: .relu6)
        try g.addNode(
            Node(
                name: "dw", op: .conv2D(dw),
                inputs: ["x", constant(&g, "dw.w", [c, 3, 3, 1]), constant(&g, "dw.b", [c])], outputs: ["d"]))
        let pw = Conv2D(kernelH: 1, kernelW: 1, strideH: pointwiseStride, strideW: pointwiseStride)
        try g.addNode(
            Node(name: "pw", op: .conv2D(pw), inputs: ["d", constant(&g, "pw.w", [24, 1, 1, c])], outputs: ["y"]))
        g.outputs = ["y"]
        return g
    }

    func testFuseDepthwisePointwiseAcrossBands() throws {
        // 40 rows of 40 x 32 floats: several 48 KB bands and a shorter last band.
        let (opt, results) = try check(try depthwiseSeparable([1, 40, 40, 32]), ["fuse-depthwise-pointwise"])
        XCTAssertEqual(ops(opt), ["DepthwisePointwise"])
        XCTAssertEqual(results[0].changes, 1)
        XCTAssertLessThan(opt.peakActivationBytes(), try depthwiseSeparable([1, 40, 40, 32]).peakActivationBytes())
        // Odd sizes and a batch of 2.
        XCTAssertEqual(
            ops(try check(try depthwiseSeparable([2, 7, 13, 19]), ["fuse-depthwise-pointwise"]).0),
            ["DepthwisePointwise"])
    }

    func testDepthwiseNotFusedIntoStridedPointwiseSaysWhy() throws {
        let (opt, results) = try check(
            try depthwiseSeparable([1, 8, 8, 16], pointwiseStride: 2), ["fuse-depthwise-pointwise"])
        XCTAssertEqual(ops(opt), ["Conv2D", "Conv2D"])
        XCTAssertEqual(results[0].notes, ["1 not fused: the next convolution is not 1x1, stride 1, ungrouped"])
    }

    // MARK: fuse-expand-depthwise-pointwise

    /// MobileNetV2's inverted residual: 1x1 expansion (ReLU6), 3x3 depthwise (ReLU6), 1x1 projection.
    func invertedResidual(_ shape: [Int], expand e: Int, stride: Int, out: Int, residualReadsExpansion: Bool = false)
        throws -> Graph
    {
        var g = input(shape)
        let c = shape[3]
        try g.addNode(
            Node(
                name: "expand", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1, activation: .relu6)),
                inputs: ["x", constant(&g, "ex.w", [e, 1, 1, c]), constant(&g, "ex.b", [e])], outputs: ["e"]))
        let dw = Conv2D(
            kernelH: 3, kernelW: 3, strideH: stride, strideW: stride, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1,
            groups: e, activation: .relu6)
        try g.addNode(
            Node(
                name: "dw", op: .conv2D(dw),
                inputs: ["e", constant(&g, "dw.w", [e, 3, 3, 1]), constant(&g, "dw.b", [e])], outputs: ["d"]))
        try g.addNode(
            Node(
                name: "project", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1)),
                inputs: ["d", constant(&g, "pw.w", [out, 1, 1, e])], outputs: ["y"]))
        g.outputs = ["y"]
        if residualReadsExpansion { g.outputs.append("e") }
        return g
    }

    func testFuseExpandDepthwisePointwise() throws {
        let pipeline = ["fuse-depthwise-pointwise", "fuse-expand-depthwise-pointwise"]
        // 40 rows of 42 x 96 padded floats: two bands of the 384 KB block, rows carried over.
        let big = try invertedResidual([1, 40, 40, 16], expand: 96, stride: 1, out: 24)
        let (opt, results) = try check(big, pipeline)
        XCTAssertEqual(ops(opt), ["ExpandDepthwisePointwise"])
        XCTAssertEqual(results.map(\.changes), [1, 1])
        XCTAssertLessThan(opt.peakActivationBytes(), big.peakActivationBytes())
        func macs(_ g: Graph) -> Int { g.nodes.map { g.stats(of: $0).macs }.reduce(0, +) }
        XCTAssertEqual(macs(opt), macs(big))
        // Stride 2, odd sizes, a batch of 2, a projection without bias.
        XCTAssertEqual(
            ops(try check(try invertedResidual([2, 9, 13, 8], expand: 20, stride: 2, out: 12), pipeline).0),
            ["ExpandDepthwisePointwise"])
        // The expansion is also a graph output: it must exist whole, so it stays.
        let (kept, keptResults) = try check(
            try invertedResidual([1, 6, 6, 8], expand: 16, stride: 1, out: 8, residualReadsExpansion: true), pipeline)
        XCTAssertEqual(ops(kept), ["Conv2D", "DepthwisePointwise"])
        XCTAssertEqual(keptResults[1].notes, ["1 not fused: the expansion has several readers or is a graph output"])
    }

    // MARK: fuse-residual-add

    func testFuseResidualAdd() throws {
        let fusions = [
            "fuse-activation", "fuse-depthwise-pointwise", "fuse-expand-depthwise-pointwise", "fuse-residual-add"
        ]
        // MobileNetV2's residual block: the block's input added to the projection, over several
        // bands of rows and a batch of 2.
        var block = try invertedResidual([2, 40, 40, 16], expand: 96, stride: 1, out: 16)
        block.outputs = ["s"]
        try block.addNode(Node(name: "add", op: .binary(.add), inputs: ["y", "x"], outputs: ["s"]))
        let (fused, results) = try check(block, fusions, exact: true)
        XCTAssertEqual(ops(fused), ["ExpandDepthwisePointwise"])
        XCTAssertEqual(results.last?.changes, 1)
        guard case .expandDepthwisePointwise(_, _, _, .identity?) = fused.nodes[0].op else {
            return XCTFail("\(fused.nodes[0].op)")
        }
        XCTAssertEqual(fused.nodes[0].inputs.last, "x")
        func macs(_ g: Graph) -> Int { g.nodes.map { g.stats(of: $0).macs }.reduce(0, +) }
        XCTAssertEqual(macs(fused), macs(block))

        // BlazeFace's widening block: Relu(Add(Pad(x) to 24 channels, separable(x))), 20 -> 24
        // channels (a residual remainder of 4, 4 padded channels), several bands, a batch of 2;
        // the Add's operands in either order.
        for padFirst in [true, false] {
            var g = try depthwiseSeparable([2, 40, 40, 20])
            g.outputs = ["r"]
            try g.addNode(
                Node(name: "pad", op: .pad(pads: [0, 0, 0, 0, 0, 0, 0, 4], value: 0), inputs: ["x"], outputs: ["p"]))
            try g.addNode(
                Node(name: "add", op: .binary(.add), inputs: padFirst ? ["p", "y"] : ["y", "p"], outputs: ["s"]))
            try g.addNode(Node(name: "relu", op: .unary(.relu), inputs: ["s"], outputs: ["r"]))
            let (opt, _) = try check(g, fusions, exact: true)
            XCTAssertEqual(ops(opt), ["DepthwisePointwise"])
            guard case .depthwisePointwise(_, _, nil, .relu?) = opt.nodes[0].op else {
                return XCTFail("\(opt.nodes[0].op)")
            }
            XCTAssertEqual(opt.nodes[0].inputs.last, "x")
            XCTAssertEqual(opt.nodes[0].outputs, ["r"])
        }

        // A broadcast operand stays an Add, and the note says why.
        var bias = try depthwiseSeparable([1, 6, 6, 8])
        bias.outputs = ["s"]
        try bias.addNode(
            Node(name: "add", op: .binary(.add), inputs: ["y", constant(&bias, "c", [24])], outputs: ["s"]))
        let (kept, keptResults) = try check(bias, fusions, exact: true)
        XCTAssertEqual(ops(kept), ["DepthwisePointwise", "Add"])
        XCTAssertEqual(
            keptResults.last?.notes, ["1 not fused: the other operand is not the output's shape or a channel pad of it"]
        )
        // The fused output added to itself stays an Add.
        var twice = try depthwiseSeparable([1, 6, 6, 8])
        twice.outputs = ["s"]
        try twice.addNode(Node(name: "add", op: .binary(.add), inputs: ["y", "y"], outputs: ["s"]))
        XCTAssertEqual(ops(try check(twice, fusions, exact: true).0), ["DepthwisePointwise", "Add"])
        // A Pad at the channels' start is not folded: the add takes the padded tensor, the Pad stays.
        var front = try depthwiseSeparable([1, 6, 6, 20])
        front.outputs = ["s"]
        try front.addNode(
            Node(name: "pad", op: .pad(pads: [0, 0, 0, 4, 0, 0, 0, 0], value: 0), inputs: ["x"], outputs: ["p"]))
        try front.addNode(Node(name: "add", op: .binary(.add), inputs: ["y", "p"], outputs: ["s"]))
        let (frontKept, _) = try check(front, fusions, exact: true)
        XCTAssertEqual(ops(frontKept), ["Pad", "DepthwisePointwise"])
        XCTAssertEqual(frontKept.nodes[1].inputs.last, "p")
    }

    // MARK: fuse-concat-shuffle

    /// ShuffleNetV2's block end: Concat of the two branches, ChannelShuffle of 2 groups, Slices
    /// of the two halves; the same in 3 groups on an inner axis (strided copies), and kept where
    /// the concatenation has another reader.
    func testFuseConcatShuffleAndTheSlicesAfterIt() throws {
        let pipeline = ["fuse-concat-shuffle"]
        func block(_ shape: [Int], groups: Int, axis: Int, slices: Int, extraReader: Bool = false) throws -> Graph {
            var g = Graph(source: GraphSource(format: "test"))
            let names = (0..<groups).map { "x\($0)" }
            for n in names { g.values[n] = Value(name: n, type: TensorType(.float32, shape)) }
            g.inputs = names
            var joined = shape
            joined[axis] *= groups
            try g.addNode(Node(name: "concat", op: .concat(axis: axis), inputs: names, outputs: ["c"]))
            try g.addNode(
                Node(name: "shuffle", op: .channelShuffle(groups: groups, axis: axis), inputs: ["c"], outputs: ["s"]))
            g.outputs = slices == 0 ? ["s"] : []
            let part = joined[axis] / max(slices, 1)
            for p in (0..<slices).reversed() {  // in either order
                var starts = [Int](repeating: 0, count: shape.count), sizes = joined
                starts[axis] = p * part
                sizes[axis] = part
                let slice = Slice(starts: starts, steps: [Int](repeating: 1, count: shape.count), sizes: sizes)
                try g.addNode(Node(name: "slice\(p)", op: .slice(slice), inputs: ["s"], outputs: ["y\(p)"]))
                g.outputs.append("y\(p)")
            }
            if extraReader { g.outputs.append("c") }
            return g
        }
        // Halves of 2 x 12 channels: one vector interleave per half (6 channels of each input).
        let (halves, results) = try check(
            try block([2, 5, 6, 12], groups: 2, axis: 3, slices: 2), pipeline, exact: true)
        XCTAssertEqual(ops(halves), ["Interleave"])
        XCTAssertEqual(halves.nodes[0].outputs, ["y0", "y1"])
        XCTAssertEqual(results[0].changes, 1)
        // No slices; halves of 2 x 6 channels (3 each: strided copies); 3 groups on axis 1 with an
        // inner axis; 3 parts.
        XCTAssertEqual(
            ops(try check(try block([1, 3, 4, 9], groups: 2, axis: 3, slices: 0), pipeline, exact: true).0),
            ["Interleave"])
        XCTAssertEqual(
            ops(try check(try block([1, 4, 3, 6], groups: 2, axis: 3, slices: 2), pipeline, exact: true).0),
            ["Interleave"])
        let (threes, _) = try check(try block([2, 6, 5], groups: 3, axis: 1, slices: 3), pipeline, exact: true)
        XCTAssertEqual(ops(threes), ["Interleave"])
        XCTAssertEqual(threes.nodes[0].outputs.count, 3)
        // The concatenation is also a graph output: it must exist, nothing is fused.
        let (kept, _) = try check(
            try block([1, 3, 4, 8], groups: 2, axis: 3, slices: 2, extraReader: true), pipeline, exact: true)
        XCTAssertEqual(ops(kept), ["Concat", "ChannelShuffle", "Slice", "Slice"])
    }

    /// The same on int8 (TFLite's ShuffleNetV2, where a concatenation's inputs share its
    /// quantization): the Interleave's bytes are each input's bytes in their shuffled places, on the
    /// vector path (29 and 40 channels of each input per part) and the byte loop (6). One input of
    /// another quantization (`fercc quantize`'s pass-through halves) is rescaled first, the same
    /// bytes as the Concat's rescale, on the interleave and on the strided copies (3 groups); with
    /// two such inputs the Concat stays.
    func testFuseInt8ConcatShuffleRescalingAtMostOneInput() throws {
        let q = Quantization(scale: 0.05, zeroPoint: -3)
        func block(_ shape: [Int], slices: Int, other: [Quantization?] = [nil, nil]) throws -> Graph {
            var g = Graph(source: GraphSource(format: "test"))
            for (k, quant) in other.enumerated() {
                var t = TensorType(.int8, shape)
                t.quantization = quant ?? q
                g.values["x\(k)"] = Value(name: "x\(k)", type: t)
                g.inputs.append("x\(k)")
            }
            var joined = shape
            joined[3] *= other.count
            try g.addNode(
                Node(name: "concat", op: .concat(axis: 3), inputs: g.inputs, outputs: ["c"]), quantization: [q])
            try g.addNode(
                Node(name: "shuffle", op: .channelShuffle(groups: other.count, axis: 3), inputs: ["c"], outputs: ["s"]),
                quantization: [q])
            g.outputs = slices == 0 ? ["s"] : []
            let part = joined[3] / max(slices, 1)
            for p in 0..<slices {
                let slice = Slice(starts: [0, 0, 0, p * part], steps: [1, 1, 1, 1], sizes: joined[..<3] + [part])
                try g.addNode(
                    Node(name: "slice\(p)", op: .slice(slice), inputs: ["s"], outputs: ["y\(p)"]), quantization: [q])
                g.outputs.append("y\(p)")
            }
            return g
        }
        for (shape, slices) in [([2, 3, 4, 58], 2), ([1, 2, 3, 40], 0), ([1, 3, 2, 12], 2)] {
            let g = try block(shape, slices: slices)
            let count = shape.reduce(1, *), n = shape[3], pixels = count / n
            let x = (0..<2).map { _ in (0..<count).map { _ in Int8(truncatingIfNeeded: Int(rng.next() * 255) - 128) } }
            let feeds = ["x0": RuntimeTensor.int8(x[0]), "x1": RuntimeTensor.int8(x[1])]
            let before = try Interpreter(graph: g).run(tensors: feeds)
            var opt = g
            _ = try PassManager.run(&opt, pipeline: ["fuse-concat-shuffle"])
            XCTAssertEqual(ops(opt), ["Interleave"], "\(shape)")
            let after = try Interpreter(graph: opt).run(tensors: feeds)
            // Output p, pixel i, channel 2j + k holds input k's channel p * part + j.
            let part = n / max(slices, 1)
            for (p, name) in g.outputs.enumerated() {
                var expected: [Int8] = []
                for i in 0..<pixels {
                    for j in 0..<part { for k in 0..<2 { expected.append(x[k][i * n + p * part + j]) } }
                }
                XCTAssertEqual(after[name], .int8(expected), "\(shape) \(name)")
                XCTAssertEqual(after[name], before[name], "\(shape) \(name)")
            }
        }
        let p = Quantization(scale: 0.04, zeroPoint: 1)
        for (shape, other) in [([2, 3, 2, 40], [p, nil]), ([1, 3, 2, 12], [nil, p]), ([1, 2, 3, 6], [nil, p, nil])] {
            let g = try block(shape, slices: 2, other: other)
            let x = other.map { _ in
                (0..<shape.reduce(1, *)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() * 255) - 128) }
            }
            var feeds: [String: RuntimeTensor] = [:]
            for (k, v) in x.enumerated() { feeds["x\(k)"] = .int8(v) }
            let before = try Interpreter(graph: g).run(tensors: feeds)
            var opt = g
            _ = try PassManager.run(&opt, pipeline: ["fuse-concat-shuffle"])
            XCTAssertEqual(ops(opt), ["Interleave"], "\(shape) \(other)")
            let after = try Interpreter(graph: opt).run(tensors: feeds)
            // The rescaled input's bytes are not its own: feeding every input the same bytes
            // gives outputs whose rescaled elements differ from the others.
            let same = try Interpreter(graph: opt).run(tensors: feeds.mapValues { _ in .int8(x[0]) })
            for name in g.outputs {
                XCTAssertEqual(after[name], before[name], "\(shape) \(name)")
                guard case .int8(let v)? = same[name] else { return XCTFail("\(name)") }
                let k = other.count, r = other.firstIndex { $0 != nil }!
                let differs = stride(from: 0, to: v.count - k, by: k).contains { v[$0 + r] != v[$0 + (r + 1) % k] }
                XCTAssertTrue(differs, "\(shape) \(name)")
            }
        }
        var kept = try block([1, 2, 2, 32], slices: 2, other: [p, p])
        _ = try PassManager.run(&kept, pipeline: ["fuse-concat-shuffle"])
        XCTAssertEqual(ops(kept), ["Concat", "ChannelShuffle", "Slice", "Slice"])
    }

    // MARK: fold-pad

    func testFoldPadIntoConvolution() throws {
        var g = input([1, 6, 6, 3])
        try g.addNode(
            Node(name: "pad", op: .pad(pads: [0, 1, 0, 0, 0, 2, 1, 0], value: 0), inputs: ["x"], outputs: ["p"]))
        try g.addNode(
            Node(
                name: "conv", op: .conv2D(Conv2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)),
                inputs: ["p", constant(&g, "w", [4, 3, 3, 3])], outputs: ["y"]))
        g.outputs = ["y"]
        let (opt, _) = try check(g, ["fold-pad"])
        XCTAssertEqual(ops(opt), ["Conv2D"])
        var h = input([1, 6, 6, 3])
        try h.addNode(
            Node(name: "pad", op: .pad(pads: [0, 1, 1, 0, 0, 1, 1, 0], value: 0.5), inputs: ["x"], outputs: ["p"]))
        try h.addNode(
            Node(
                name: "conv", op: .conv2D(Conv2D(kernelH: 3, kernelW: 3)),
                inputs: ["p", constant(&h, "w", [4, 3, 3, 3])], outputs: ["y"]))
        h.outputs = ["y"]
        XCTAssertEqual(ops(try check(h, ["fold-pad"]).0), ["Pad", "Conv2D"], "a non-zero pad value stays")
    }

    /// TF's ShuffleNetV2 stem: ReLU, zero Pad, 3x3 stride-2 MaxPool. On a tensor that cannot be
    /// negative the Pad becomes the pool's padding (same bits); elsewhere it stays.
    func testFoldPadIntoMaxPoolAfterARelu() throws {
        for relu in [true, false] {
            var g = input([2, 9, 8, 5])
            if relu { try g.addNode(Node(name: "relu", op: .unary(.relu), inputs: ["x"], outputs: ["r"])) }
            try g.addNode(
                Node(
                    name: "pad", op: .pad(pads: [0, 1, 0, 0, 0, 1, 1, 0], value: 0), inputs: [relu ? "r" : "x"],
                    outputs: ["p"]))
            try g.addNode(
                Node(
                    name: "pool", op: .maxPool2D(Pool2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)),
                    inputs: ["p"], outputs: ["y"]))
            g.outputs = ["y"]
            let (opt, results) = try check(g, ["fold-pad"], exact: true)
            XCTAssertEqual(ops(opt), relu ? ["Relu", "MaxPool2D"] : ["Pad", "MaxPool2D"])
            XCTAssertEqual(results[0].changes, relu ? 1 : 0)
            XCTAssertEqual(opt.values["y"]?.type.shape, [2, 5, 4, 5])
        }
    }

    /// The same on int8 (TFLite's int8 ShuffleNetV2 stem): after a ReLU-clamped int8 add, a Pad
    /// that keeps the quantization (its fill the zero point) becomes the int8 pool's padding, the
    /// same bytes; without the ReLU it stays.
    func testFoldPadIntoInt8MaxPoolAfterARelu() throws {
        let qx = Quantization(scale: 0.05, zeroPoint: -3), q = Quantization(scale: 0.1, zeroPoint: -20)
        for relu in [true, false] {
            var g = Graph(source: GraphSource(format: "test"))
            var t = TensorType(.int8, [2, 9, 8, 5])
            t.quantization = qx
            g.values["x"] = Value(name: "x", type: t)
            g.inputs = ["x"]
            try g.addNode(
                Node(
                    name: "add", op: .binary(.add, activation: relu ? .relu : .identity), inputs: ["x", "x"],
                    outputs: ["r"]),
                quantization: [q])
            try g.addNode(
                Node(name: "pad", op: .pad(pads: [0, 1, 0, 0, 0, 1, 1, 0], value: 0), inputs: ["r"], outputs: ["p"]),
                quantization: [q])
            try g.addNode(
                Node(
                    name: "pool", op: .maxPool2D(Pool2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)),
                    inputs: ["p"], outputs: ["y"]),
                quantization: [q])
            g.outputs = ["y"]
            let x = RuntimeTensor.int8((0..<t.count).map { _ in Int8(truncatingIfNeeded: Int(rng.next() * 127)) })
            let before = try Interpreter(graph: g).run(tensors: ["x": x])["y"]!
            var opt = g
            let results = try PassManager.run(&opt, pipeline: ["fold-pad"])
            XCTAssertEqual(ops(opt), relu ? ["Add", "MaxPool2D"] : ["Add", "Pad", "MaxPool2D"])
            XCTAssertEqual(results[0].changes, relu ? 1 : 0)
            XCTAssertEqual(try Interpreter(graph: opt).run(tensors: ["x": x])["y"]!, before)
            XCTAssertEqual(opt.values["y"]?.type.shape, [2, 5, 4, 5])
        }
    }

    // MARK: fold-constants, eliminate-dead-code, pipeline

    func testFoldConstantsAndDeadCode() throws {
        var g = input([2, 3])
        let c = constant(&g, "c", [3, 2])
        try g.addNode(Node(name: "t", op: .transpose(perm: [1, 0]), inputs: [c], outputs: ["ct"]))
        try g.addNode(Node(name: "add", op: .binary(.add), inputs: ["x", "ct"], outputs: ["y"]))
        try g.addNode(Node(name: "unused", op: .unary(.tanh), inputs: ["x"], outputs: ["z"]))
        g.outputs = ["y"]
        let (opt, results) = try check(g, ["fold-constants", "eliminate-dead-code"])
        XCTAssertEqual(ops(opt), ["Add"])
        XCTAssertEqual(results.map(\.changes), [1, 1])
        XCTAssertThrowsError(try PassManager.pipeline("fold-batchnorm,teleport")) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "unknown pass 'teleport'"))
        }
        XCTAssertEqual(try PassManager.pipeline("none"), [])
    }

    // MARK: to-nhwc and channel shuffle, on imported models

    func testToNHWCRemovesTheImportersTransposes() throws {
        var g = try ONNXImporter.importModel(path: Repo.fixtures + "/inverted_residual_block.onnx")
        let transposesBefore = g.nodes.filter { $0.op.name == "Transpose" }.count
        let (opt, _) = try check(g, ["to-nhwc"])
        let transposes = opt.nodes.filter { $0.op.name == "Transpose" }.count
        XCTAssertGreaterThan(transposesBefore, 4)
        XCTAssertEqual(transposes, 2, "only the NCHW input and output conversions remain")
        g = opt
        XCTAssertTrue(
            g.nodes.contains { if case .batchNorm(3, _) = $0.op { return true } else { return false } },
            "BatchNorm now on NHWC's channel axis")
    }

    func testChannelShuffleIsRecognizedInBothForms() throws {
        let onnx = try ONNXImporter.importModel(path: Repo.fixtures + "/shufflenet_unit.onnx")
        let (o1, r1) = try check(onnx, PassManager.defaultPipeline)
        XCTAssertEqual(r1.first { $0.name == "recognize-channel-shuffle" }?.changes, 1)
        // The unit's Concat and shuffle then become one Interleave of the two branches.
        XCTAssertEqual(r1.first { $0.name == "fuse-concat-shuffle" }?.changes, 1)
        XCTAssertTrue(o1.nodes.contains { if case .interleave = $0.op { return true } else { return false } })
        XCTAssertFalse(o1.nodes.contains { $0.op.name == "ChannelShuffle" || $0.op.name == "Concat" })
        let tfl = try TFLiteImporter.importModel(path: Repo.path("fixtures/tflite/channel_shuffle_5d.tflite"))
        let (o2, _) = try check(tfl, ["recognize-channel-shuffle"])
        XCTAssertEqual(ops(o2), ["ChannelShuffle"])
    }

    func testSqueezeExcitationSurvivesThePipeline() throws {
        let g = try ONNXImporter.importModel(path: Repo.fixtures + "/squeeze_excitation_block.onnx")
        let (opt, _) = try check(g, PassManager.defaultPipeline)
        XCTAssertTrue(opt.nodes.contains { $0.op.name == "Mul" }, "the excitation multiply remains")
        XCTAssertTrue(opt.nodes.contains { $0.op.name == "ReduceMean" }, "the squeeze remains")
    }

    /// The whole default pipeline on every fixture: outputs as before (float within 1e-5,
    /// int8 identical), graphs valid.
    func testDefaultPipelineOnEveryFixture() throws {
        var models: [String] = []
        for dir in [Repo.fixtures, Repo.path("fixtures/tflite")] {
            for f in try FileManager.default.contentsOfDirectory(atPath: dir)
            where f.hasSuffix(".onnx") || f.hasSuffix(".tflite") {
                models.append(dir + "/" + f)
            }
        }
        XCTAssertGreaterThan(models.count, 140)
        for path in models.sorted() {
            let g = try ModelLoader.load(path: path)
            var feeds: [String: RuntimeTensor] = [:]
            for i in g.inputs {
                let t = g.values[i]!.type
                feeds[i] =
                    t.dtype == .float32
                    ? .float(rng.floats(t.count))
                    : .int8((0..<t.count).map { _ in Int8(truncatingIfNeeded: Int(rng.next() * 127)) })
            }
            let before = try Interpreter(graph: g).run(tensors: feeds)
            let (opt, _) = try ModelLoader.load(path: path, pipeline: PassManager.defaultPipeline)
            let after = try Interpreter(graph: opt).run(tensors: feeds)
            for o in g.outputs {
                switch (before[o]!, after[o]!) {
                case (.float(let b), .float(let a)):
                    XCTAssertLessThanOrEqual(relativeError(a, b), 1e-5, "\(path): \(o)")
                case (let b, let a):
                    XCTAssertEqual(a, b, "\(path): \(o)")
                }
            }
        }
    }
}
