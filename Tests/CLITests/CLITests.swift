import FerccTestSupport
import Foundation
import XCTest

/// The fercc executable itself: exit codes, the one-line `error:` contract, JSON output.
final class CLITests: XCTestCase {
    func fercc(_ args: [String], in directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try FerccProcess.run(args, in: directory)
    }

    func assertOneLineError(
        _ r: (status: Int32, stdout: String, stderr: String), contains text: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        FerccProcess.assertOneLineError(r, contains: text, file: file, line: line)
    }

    func testInspectText() throws {
        let r = try fercc(["inspect", Repo.path("fixtures/fer/fer_mini_xception.onnx")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("DepthwiseConv2D"))
        XCTAssertTrue(r.stdout.contains("head/softmax"))
        XCTAssertTrue(r.stdout.contains("parameters"))
    }

    func testInspectJSON() throws {
        let r = try fercc(["inspect", "--json", Repo.fixtures + "/inverted_residual_block.onnx"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let nodes = obj?["nodes"] as? [[String: Any]]
        let summary = obj?["summary"] as? [String: Any]
        XCTAssertNotNil(nodes?.first?["op"])
        XCTAssertNotNil(nodes?.first?["name"])
        // 1x1 16->96 on 14x14, depthwise 3x3 on 96, 1x1 96->16: 301,056 + 169,344 + 301,056 conv MACs.
        let convMacs = nodes?.filter { ($0["op"] as? String)?.contains("Conv") == true }.compactMap {
            $0["macs"] as? Int
        }.reduce(0, +)
        XCTAssertEqual(convMacs, 771_456)
        // Conv weights and BatchNorm statistics; Clip's bounds become attributes of the op.
        XCTAssertEqual(summary?["parameters"] as? Int, 16 * 96 + 96 * 9 + 96 * 16 + 4 * (96 + 96 + 16))
    }

    func testInspectOptimizedJSONAndRunPasses() throws {
        let model = Repo.fixtures + "/inverted_residual_block.onnx"
        let r = try fercc(["inspect", "--optimized", "--json", model])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let passes = obj?["passes"] as? [[String: Any]]
        XCTAssertEqual(passes?.compactMap { $0["name"] as? String }.first, "recognize-channel-shuffle")
        XCTAssertEqual(passes?.first { $0["name"] as? String == "fuse-depthwise-pointwise" }?["changes"] as? Int, 1)
        XCTAssertEqual(passes?.first { $0["name"] as? String == "fold-batchnorm" }?["changes"] as? Int, 3)
        let ops = (obj?["nodes"] as? [[String: Any]])?.compactMap { $0["op"] as? String } ?? []
        XCTAssertFalse(ops.contains { $0.contains("BatchNorm") })
        XCTAssertNotNil((obj?["before"] as? [String: Any])?["nodes"])
        let dir = try temporaryDirectory()
        for passes in ["none", "fold-batchnorm,fuse-activation", "default"] {
            let out = dir.appendingPathComponent("\(passes).npy").path
            let run = try fercc([
                "run", model, "--passes", passes, "--input", Repo.fixtures + "/inverted_residual_block.in0.npy",
                "--output", out
            ])
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        assertOneLineError(
            try fercc(["run", model, "--passes", "warp-drive", "--input", "x.npy"]),
            contains: "unknown pass 'warp-drive'")
    }

    func testRunWritesOutputAndPrintsWithout() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("y.npy").path
        let r = try fercc([
            "run", Repo.fixtures + "/softmax_default_axis_opset13.onnx", "--input",
            Repo.fixtures + "/softmax_default_axis_opset13.in0.npy", "--output", out
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))
        let p = try fercc([
            "run", Repo.fixtures + "/softmax_default_axis_opset13.onnx", "--input",
            Repo.fixtures + "/softmax_default_axis_opset13.in0.npy"
        ])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stdout.hasPrefix("Y [1x7]: "), p.stdout)
    }

    func testErrorsAreOneLineWithNonZeroExit() throws {
        assertOneLineError(try fercc(["inspect", "/no/such/model.onnx"]), contains: "/no/such/model.onnx: no such file")
        let cycle = Repo.path("fixtures/errors/cycle.onnx")
        assertOneLineError(try fercc(["inspect", cycle]), contains: "\(cycle): ")
        let unsupported = Repo.path("fixtures/errors/unsupported_ops.onnx")
        assertOneLineError(
            try fercc(["run", unsupported, "--input", "x.npy"]),
            contains: "unsupported ops: Hardmax (first at node 'first_hardmax')")
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("never.npy").path
        assertOneLineError(
            try fercc([
                "run", Repo.fixtures + "/relu.onnx", "--input", Repo.fixtures + "/tanh.in0.npy", "--output",
                "wrong=\(out)"
            ]),
            contains: "'wrong' is not an output")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        assertOneLineError(
            try fercc(["run", Repo.fixtures + "/relu.onnx", "--input", Repo.fixtures + "/sub_scalar.in0.npy"]),
            contains: "must have shape [1, 4, 8, 8]")
    }
}
