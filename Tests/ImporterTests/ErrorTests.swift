import Fercc
import FerccIR
import FerccONNX
import FerccPasses
import FerccRuntime
import FerccTestSupport
import Foundation
import XCTest

/// Bad input of every kind gives one error naming the file (and node), never a crash.
final class ErrorTests: XCTestCase {
    func loadError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> FerccError? {
        do {
            _ = try ModelLoader.load(path: path)
            XCTFail("expected an error for \(path)", file: file, line: line)
            return nil
        } catch let e as FerccError {
            XCTAssertEqual(e.file, path, file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), "one line", file: file, line: line)
            return e
        } catch {
            XCTFail("not a FerccError: \(error)", file: file, line: line)
            return nil
        }
    }

    func errorsDir(_ name: String) -> String { Repo.path("fixtures/errors/\(name)") }

    func testMissingFile() {
        XCTAssertEqual(loadError("/nonexistent/model.onnx")?.reason, "no such file")
    }

    func testNotAnONNXFile() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("model.onnx").path
        try Data("this is a text file, not a protobuf\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertNotNil(loadError(path)?.reason.range(of: "not a valid ONNX"))
        let empty = dir.appendingPathComponent("empty.onnx").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertNotNil(loadError(empty)?.reason.range(of: "empty"))
    }

    func testTruncatedModelsNeverCrash() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/fer/fer_mini_xception.onnx")))
        let dir = try temporaryDirectory()
        // Cuts at many offsets: each must fail cleanly (whatever the reason), never trap.
        for cut in stride(from: 1, to: full.count, by: full.count / 37) + [full.count - 1] {
            let path = dir.appendingPathComponent("cut\(cut).onnx").path
            try full.prefix(cut).write(to: URL(fileURLWithPath: path))
            XCTAssertNotNil(loadError(path), "cut at \(cut)")
        }
    }

    func testRandomBytesNeverCrash() throws {
        var rng = SeededRandom(7)
        let dir = try temporaryDirectory()
        var ran = 0
        for model in [
            "inverted_residual_block", "shufflenet_unit", "conv_auto_pad_same_upper", "avgpool_ceil_include_pad"
        ] {
            let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repo.fixtures + "/\(model).onnx")))
            for trial in 0..<60 {
                var bytes = full
                for _ in 0..<6 {
                    let i = Int((rng.next() + 1) / 2 * Float(bytes.count - 1))
                    bytes[i] = UInt8(truncatingIfNeeded: Int((rng.next() + 1) * 127))
                }
                let path = dir.appendingPathComponent("fuzz-\(model)-\(trial).onnx").path
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                do {
                    // A corrupted model that still imports (a flip in weight data, say) must run.
                    let (graph, _) = try ModelLoader.load(path: path, pipeline: PassManager.defaultPipeline)
                    var feeds: [String: [Float]] = [:]
                    for input in graph.inputs {
                        feeds[input] = [Float](repeating: 0.25, count: graph.values[input]!.type.count)
                    }
                    _ = try Interpreter(graph: graph).run(feeds)
                    ran += 1
                } catch let e as FerccError {
                    XCTAssertNotNil(e.file ?? e.node, "errors say where")
                }
            }
        }
        XCTAssertGreaterThan(ran, 0)
    }

    func testCycle() {
        let e = loadError(errorsDir("cycle.onnx"))
        XCTAssertNotNil(e?.reason.range(of: "cycle"))
        XCTAssertNotNil(e?.node)
    }

    /// Absurd sizes are one-line errors at import, not exhausted memory later: a 30 G-element
    /// input names its size and the limit (which --max-memory moves), a 2^40 dilation names it;
    /// a cycle, an external-data initializer and a TFLite file pointing past its end likewise.
    func testAbsurdSizesAndHostileFilesAreOneLineErrors() throws {
        let huge = loadError(errorsDir("huge_input.onnx"))
        XCTAssertNotNil(
            huge?.reason.range(of: "value 'X' float32[1x3x100000x100000] needs 111.8 GiB"),
            "\(String(describing: huge))")
        XCTAssertNotNil(huge?.reason.range(of: "--max-memory"))
        var small = ModelLoader.Options()
        small.maxMemory = 100
        XCTAssertThrowsError(try ModelLoader.load(path: Repo.fixtures + "/relu.onnx", options: small)) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "more than the memory limit of 100 bytes"), "\($0)")
        }
        XCTAssertNotNil(loadError(errorsDir("dilation_2e40.onnx"))?.reason.range(of: "dilation 1099511627776"))
        XCTAssertNotNil(loadError(errorsDir("cycle.onnx"))?.reason.range(of: "cycle"))
        XCTAssertNotNil(loadError(errorsDir("external_data.onnx")))
        XCTAssertNotNil(loadError(errorsDir("fails_verifier.tflite")))
    }

    /// An ONNXModel built in code (the reader checks files) whose initializer's shape does not fit
    /// its data is an error at import (FuzzMutatedModels found the trap this was).
    func testInitializerShapeUnlikeItsDataIsAnError() throws {
        var model = try ONNXReader.read(path: Repo.fixtures + "/conv_3x3_pad_bias.onnx")
        XCTAssertFalse(model.graph.initializers.isEmpty)
        for dims in [[-1, 2, 3, 3], [2, 3, 3, 99]] {
            model.graph.initializers[0].dims = dims
            XCTAssertThrowsError(try ONNXImporter.importModel(model, path: "built.onnx")) {
                XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "initializer"), "\($0)")
            }
        }
    }

    /// A SAME-padded convolution with a stride of Int64.max is an error, not an overflow in the
    /// padding arithmetic (FuzzMutatedModels found the trap this was).
    func testAbsurdStrideWithSamePaddingIsAnError() throws {
        var model = try ONNXReader.read(path: Repo.fixtures + "/conv_auto_pad_same_upper.onnx")
        let i = try XCTUnwrap(model.graph.nodes.firstIndex { $0.opType == "Conv" })
        model.graph.nodes[i].attributes["strides"] = .ints([Int64.max, 1])
        XCTAssertThrowsError(try ONNXImporter.importModel(model, path: "conv.onnx")) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "beyond 2^40"), "\($0)")
        }
    }

    /// A Split whose num_outputs (opset 18) is absurd is refused before anything is sized by it
    /// (FuzzMutatedModels: 2^40 parts asked for 8 TB).
    func testSplitIntoMorePartsThanOutputsIsAnError() throws {
        var model = try ONNXReader.read(path: Repo.fixtures + "/split_equal_opset13.onnx")
        model.opsets[""] = 18
        let i = try XCTUnwrap(model.graph.nodes.firstIndex { $0.opType == "Split" })
        model.graph.nodes[i].attributes["num_outputs"] = .int(1 << 40)
        XCTAssertThrowsError(try ONNXImporter.importModel(model, path: "split.onnx")) {
            XCTAssertNotNil(
                ($0 as? FerccError)?.reason.range(of: "Split into 1099511627776 parts for 2 outputs"), "\($0)")
        }
    }

    /// FuzzMutatedModels (2026-12-04): Split sizes near Int64.max overflowed their sum (a trap).
    func testSplitSizesThatOverflowAreAnError() throws {
        var model = try ONNXReader.read(path: Repo.fixtures + "/split_attr_opset11.onnx")
        let i = try XCTUnwrap(model.graph.nodes.firstIndex { $0.opType == "Split" })
        model.graph.nodes[i].attributes["split"] = .ints([Int64.max, Int64.max])
        XCTAssertThrowsError(try ONNXImporter.importModel(model, path: "split.onnx")) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "do not add up"), "\($0)")
        }
    }

    func testUnsupportedOpsAreAllListedOnce() {
        let e = loadError(errorsDir("unsupported_ops.onnx"))
        XCTAssertEqual(
            e?.reason, "unsupported ops: Hardmax (first at node 'first_hardmax'), Det (first at node 'the_det')")
    }

    /// A Resize whose ONNX coordinate rules have no exact IR form is refused by name, not approximated.
    func testResizeModeWithoutAnExactFormIsRefused() {
        let e = loadError(errorsDir("resize_cubic.onnx"))
        XCTAssertEqual(e?.node, "cubic")
        XCTAssertEqual(e?.reason, "Resize mode cubic with coordinate_transformation_mode half_pixel is not supported")
    }

    func testExternalData() {
        XCTAssertNotNil(loadError(errorsDir("external_data.onnx"))?.reason.range(of: "external file"))
    }

    func testUndefinedInput() {
        let e = loadError(errorsDir("undefined_input.onnx"))
        XCTAssertEqual(e?.node, "reads_ghost")
        XCTAssertNotNil(e?.reason.range(of: "'ghost'"))
    }

    func testUnsupportedOpset() {
        XCTAssertNotNil(loadError(errorsDir("opset8.onnx"))?.reason.range(of: "opset 8 is not supported"))
    }

    func testShapeMismatchNamesTheNode() {
        let e = loadError(errorsDir("conv_channel_mismatch.onnx"))
        XCTAssertEqual(e?.node, "bad_conv")
        XCTAssertNotNil(e?.reason.range(of: "input channels"))
    }

    func testMalformedNodesStayOnOneLine() {
        XCTAssertEqual(loadError(errorsDir("node_without_outputs.onnx"))?.reason, "MatMul has no output")
        let e = loadError(errorsDir("newline_in_node_name.onnx"))
        XCTAssertEqual(e?.node, "line one\nline two")
        XCTAssertEqual(e?.description.contains("\n"), false)
    }

    func testSymbolicSpatialDimension() {
        XCTAssertNotNil(loadError(errorsDir("symbolic_height.onnx"))?.reason.range(of: "'height'"))
    }

    func testTFLiteIsRefusedClearly() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("m.tflite").path
        FileManager.default.createFile(atPath: path, contents: Data([0, 1, 2]))
        XCTAssertNotNil(loadError(path)?.reason.range(of: "TFLite"))
    }

    // MARK: fercc run bindings and .npy files

    func runError(inputs: [String], outputs: [String] = [], model: String = Repo.fixtures + "/relu.onnx") -> FerccError?
    {
        do {
            _ = try RunCommand.run(
                model: model, inputs: inputs.map(RunCommand.Binding.init), outputs: outputs.map(RunCommand.Binding.init)
            )
            XCTFail("expected an error")
            return nil
        } catch let e as FerccError {
            XCTAssertFalse(e.description.contains("\n"))
            return e
        } catch {
            XCTFail("not a FerccError: \(error)")
            return nil
        }
    }

    func testNpyOfTheWrongShape() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("x.npy").path
        try NPY.write(NPY.Array(shape: [1, 4, 8, 7], data: [Float](repeating: 0, count: 224)), to: path)
        let e = runError(inputs: [path])
        XCTAssertEqual(e?.file, path)
        XCTAssertNotNil(e?.reason.range(of: "[1, 4, 8, 8]"))
    }

    func testNpyOfTheWrongDtype() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("x.npy").path
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 4, 8, 8), }"
        header += String(repeating: " ", count: 117 - header.count) + "\n"
        var bytes: [UInt8] =
            [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        bytes += [UInt8](repeating: 0, count: 256 * 8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let e = runError(inputs: [path])
        XCTAssertEqual(e?.file, path)
        XCTAssertNotNil(e?.reason.range(of: "float64"))
    }

    func testNotAnNpyAndTruncatedNpy() throws {
        let dir = try temporaryDirectory()
        let junk = dir.appendingPathComponent("junk.npy").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertNotNil(runError(inputs: [junk])?.reason.range(of: "not a .npy"))
        let good = NPY.encode(NPY.Array(shape: [1, 4, 8, 8], data: [Float](repeating: 1, count: 256)))
        let cut = dir.appendingPathComponent("cut.npy").path
        try Data(good.prefix(good.count - 5)).write(to: URL(fileURLWithPath: cut))
        XCTAssertNotNil(runError(inputs: [cut])?.reason.range(of: "truncated"))
        XCTAssertEqual(runError(inputs: [dir.appendingPathComponent("none.npy").path])?.reason, "no such file")
    }

    func testInputAndOutputNamesNotInTheGraph() throws {
        let input = Repo.fixtures + "/relu.in0.npy"
        XCTAssertNotNil(runError(inputs: ["nope=\(input)"])?.reason.range(of: "'nope' is not an input"))
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy").path
        XCTAssertNotNil(
            runError(inputs: [input], outputs: ["ghost=\(out)"])?.reason.range(of: "'ghost' is not an output"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written on error")
    }

    func testSeveralInputsNeedNames() {
        let model = Repo.fixtures + "/mul_both_broadcast.onnx"
        XCTAssertNotNil(
            runError(inputs: [Repo.fixtures + "/mul_both_broadcast.in0.npy"], model: model)?.reason.range(
                of: "NAME=PATH"))
    }

    func testOutputsAreWrittenAtomically() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("y.npy").path
        _ = try RunCommand.run(
            model: Repo.fixtures + "/relu.onnx", inputs: [.init(Repo.fixtures + "/relu.in0.npy")], outputs: [.init(out)]
        )
        let written = try NPY.read(path: out)
        XCTAssertEqual(written, try NPY.read(path: Repo.fixtures + "/relu.out0.npy"))
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir.path), ["y.npy"], "no temporary file left")
        XCTAssertThrowsError(try NPY.write(written, to: dir.appendingPathComponent("missing/dir/y.npy").path))
    }
}
