import FerccIR
import FerccTestSupport
import XCTest

/// Shape inference and validation catch malformed graphs with the node named.
final class IRTests: XCTestCase {
    func graph() -> Graph {
        var g = Graph(source: GraphSource(format: "test"))
        g.values["x"] = Value(name: "x", type: TensorType(.float32, [1, 8, 8, 3]))
        g.inputs = ["x"]
        return g
    }

    func testConvShapeInference() throws {
        var g = graph()
        g.addConstant("w", .float([Float](repeating: 0, count: 16 * 27)), shape: [16, 3, 3, 3])
        let conv = Conv2D(
            kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let t = try g.addNode(Node(name: "c", op: .conv2D(conv), inputs: ["x", "w"], outputs: ["y"]))
        XCTAssertEqual(t, [TensorType(.float32, [1, 4, 4, 16])])
        g.outputs = ["y"]
        XCTAssertNoThrow(try g.validate())
    }

    /// Window parameters from hostile files (found by FuzzMutatedModels: strides and pads near
    /// Int64.max overflowed the output-size arithmetic) are errors, and pooling sizes 0.
    func testAbsurdWindowParametersAreErrorsNotTraps() throws {
        let x = TensorType(.float32, [1, 8, 8, 3]), w = TensorType(.float32, [4, 3, 3, 3])
        for (stride, dilation, pad) in [(Int.max, 1, 0), (1, Int.max / 2, 0), (1, 1, Int.max - 4), (1 << 41, 1, 0)] {
            let conv = Conv2D(
                kernelH: 3, kernelW: 3, strideH: stride, strideW: 1, dilationH: dilation, dilationW: 1,
                padTop: pad, padLeft: 0, padBottom: pad, padRight: 0)
            XCTAssertThrowsError(
                try ShapeInference.infer(.conv2D(conv), inputs: [x, w]), "\(stride) \(dilation) \(pad)")
            XCTAssertEqual(ShapeInference.poolCount(8, 3, stride, dilation, pad, pad, ceil: true), 0)
        }
    }

    func testValidationFindsUseBeforeDefinitionAndBadTypes() throws {
        var g = graph()
        try g.addNode(Node(name: "r", op: .unary(.relu), inputs: ["x"], outputs: ["y"]))
        g.outputs = ["y"]
        var cyclic = g
        cyclic.nodes.insert(Node(name: "early", op: .unary(.relu), inputs: ["y"], outputs: ["z"]), at: 0)
        cyclic.values["z"] = Value(name: "z", type: TensorType(.float32, [1, 8, 8, 3]))
        XCTAssertThrowsError(try cyclic.validate()) { XCTAssertEqual(($0 as? FerccError)?.node, "early") }
        var wrong = g
        wrong.values["y"]!.type = TensorType(.float32, [1, 8, 8, 4])
        XCTAssertThrowsError(try wrong.validate()) { XCTAssertEqual(($0 as? FerccError)?.node, "r") }
        XCTAssertThrowsError(try g.addNode(Node(name: "dup", op: .unary(.relu), inputs: ["x"], outputs: ["y"]))) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "defined twice"))
        }
    }

    func testShapeErrors() {
        XCTAssertThrowsError(
            try ShapeInference.infer(.binary(.add), inputs: [TensorType(.float32, [2, 3]), TensorType(.float32, [4])]))
        XCTAssertThrowsError(try ShapeInference.infer(.reshape(shape: [5]), inputs: [TensorType(.float32, [2, 3])]))
        XCTAssertThrowsError(try ShapeInference.infer(.transpose(perm: [0, 0]), inputs: [TensorType(.float32, [2, 3])]))
        XCTAssertThrowsError(
            try ShapeInference.infer(
                .gemm(Gemm()), inputs: [TensorType(.float32, [2, 3]), TensorType(.float32, [4, 5])]))
        XCTAssertEqual(ShapeInference.broadcastShapes([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertEqual(ShapeInference.poolCount(8, 3, 2, 1, 0, 0, ceil: true), 4)
        XCTAssertEqual(ShapeInference.poolCount(8, 3, 2, 1, 0, 0, ceil: false), 3)
    }

    func testDeadCodeRemoval() throws {
        var g = graph()
        try g.addNode(Node(name: "used", op: .unary(.relu), inputs: ["x"], outputs: ["y"]))
        try g.addNode(Node(name: "unused", op: .unary(.tanh), inputs: ["x"], outputs: ["z"]))
        g.outputs = ["y"]
        g.removeDeadCode()
        XCTAssertEqual(g.nodes.map(\.name), ["used"])
        XCTAssertNil(g.values["z"])
    }
}
