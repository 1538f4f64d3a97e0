import Fercc
import FerccCodegen
import FerccIR
import FerccPasses
import Foundation
import XCTest

/// fercc convert: generated Swift that compiles (also under Embedded Swift), runs, and matches
/// the reference; the embedded kernels equal the Kernels target; the arena plan is sound.
final class CodegenTests: XCTestCase {
    func sh(_ args: [String], stdin: Data? = nil) throws -> (Int32, String) { try shell(args, stdin: stdin) }

    func testEmbeddedKernelSourcesAreFresh() throws {
        let dir = try temporaryDirectory()
        let (status, output) = try sh([Repo.path("scripts/generate-kernel-sources"), dir.appendingPathComponent("k.swift").path])
        XCTAssertEqual(status, 0, output)
        let fresh = try String(contentsOfFile: dir.appendingPathComponent("k.swift").path, encoding: .utf8)
        let committed = try String(contentsOfFile: Repo.path("Sources/FerccCodegen/KernelSources.swift"), encoding: .utf8)
        XCTAssertEqual(fresh, committed, "Sources/FerccCodegen/KernelSources.swift is stale: run scripts/generate-kernel-sources")
    }

    /// Converts, compiles with a caller's own main.swift, runs on `input`, returns the outputs.
    func convertAndRun(_ model: String, input: [Float], weights: CodegenOptions.Weights) throws -> [Float] {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("gen").path
        let report = try ConvertCommand.convert(model: model, outputDirectory: out, options: CodegenOptions(name: "FER", weights: weights), bench: false)
        XCTAssertLessThanOrEqual(report.arena_bytes, report.activations_sum_bytes)
        let make = weights == .embedded ? "FER()" : "FER(weights: [UInt8](try! Data(contentsOf: URL(fileURLWithPath: \"\(out)/FER.weights\"))))!"
        let main = """
        import Foundation
        let model = \(make)
        let input = FileHandle.standardInput.readDataToEndOfFile().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        print(model.predict(input).map { String($0.bitPattern) }.joined(separator: " "))
        """
        try Data(main.utf8).write(to: dir.appendingPathComponent("main.swift"))
        var sources = ["\(out)/FER.swift", dir.appendingPathComponent("main.swift").path]
        if weights == .embedded { sources.append("\(out)/FER+Weights.swift") }
        let binary = dir.appendingPathComponent("fer").path
        let (status, log) = try sh(["swiftc", "-O", "-wmo", "-Xcc", "-march=native"] + sources + ["-o", binary])
        XCTAssertEqual(status, 0, log)
        let bytes = input.withUnsafeBytes { Data($0) }
        let (runStatus, printed) = try sh([binary], stdin: bytes)
        XCTAssertEqual(runStatus, 0, printed)
        return printed.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
    }

    func testGeneratedFERModelMatchesOnnxRuntime() throws {
        let input = try NPY.read(path: Repo.path("fixtures/fer/face.npy")).data
        let ref = try NPY.read(path: Repo.path("fixtures/fer/expression.npy")).data
        let got = try convertAndRun(Repo.path("fixtures/fer/fer_mini_xception.onnx"), input: input, weights: .embedded)
        XCTAssertEqual(got.count, 7)
        XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5)
    }

    func testGeneratedCodeWithWeightsFileMatchesOnnxRuntime() throws {
        let input = try NPY.read(path: Repo.fixtures + "/shufflenet_unit.in0.npy").data
        let ref = try NPY.read(path: Repo.fixtures + "/shufflenet_unit.out0.npy").data
        let got = try convertAndRun(Repo.fixtures + "/shufflenet_unit.onnx", input: input, weights: .file)
        XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5)
    }

    /// Every single-input int8 TFLite fixture, converted and compiled together into one binary
    /// (one module, one model class each), run through `predictQuantized` (or `predict` for float
    /// I/O): the raw int8 outputs equal LiteRT's reference kernels' bit for bit. Once for the host
    /// (the AVX2 kernels on an AVX2 machine, AVX-512 VNNI where it has that), for the AVX2 target
    /// when the host can run it (so a VNNI machine tests the AVX2 kernels too), and for the
    /// portable target.
    func testGeneratedInt8CodeMatchesTFLiteReferenceKernels() throws {
        try checkGeneratedInt8Code(target: .host)
        if CodegenOptions.Target.host.hasAVX512VNNI { try checkGeneratedInt8Code(target: .x86_64_avx2) }
        try checkGeneratedInt8Code(target: .portable)
    }

    func checkGeneratedInt8Code(target: CodegenOptions.Target) throws {
        let dir = try temporaryDirectory()
        let index = try JSONDecoder().decode(TFLiteFixtureTests.Index.self, from: Data(contentsOf: URL(fileURLWithPath: TFLiteFixtureTests.dir + "/index.json")))
        var sources: [String] = [], calls: [String] = [], expected: [String] = []
        for c in index.cases where c.name.hasPrefix("int8_") && c.inputs.count == 1 && c.outputs.count == 1 {
            let name = "Q\(calls.count)"
            let input = try NPY.read(path: TFLiteFixtureTests.dir + "/" + c.inputs[0].file).tensor
            let ref = try NPY.read(path: TFLiteFixtureTests.dir + "/" + c.outputs[0].file).tensor
            let out = dir.appendingPathComponent(name).path
            _ = try ConvertCommand.convert(model: TFLiteFixtureTests.dir + "/" + c.model, outputDirectory: out,
                                           options: CodegenOptions(name: name, target: target), bench: false)
            sources += ["\(out)/\(name).swift", "\(out)/\(name)+Weights.swift"]
            switch (input, ref) {
            case (.int8(let x), .int8(let y)):
                calls.append("""
                do { let m = \(name)(); var y = [Int8](repeating: 0, count: \(y.count)); let x: [Int8] = \(x)
                     m.predictQuantized(x, into: &y); print("\(c.name)", y.map(String.init).joined(separator: " ")) }
                """)
                expected.append("\(c.name) " + y.map(String.init).joined(separator: " "))
            case (.float(let x), .float(let y)):
                calls.append("""
                do { let m = \(name)(); let x: [Float] = [\(x.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
                     print("\(c.name)", m.predict(x).map { String($0.bitPattern) }.joined(separator: " ")) }
                """)
                expected.append("\(c.name) " + y.map { String($0.bitPattern) }.joined(separator: " "))
            default:
                continue
            }
        }
        XCTAssertGreaterThanOrEqual(calls.count, 12)
        try Data(calls.joined(separator: "\n").utf8).write(to: dir.appendingPathComponent("main.swift"))
        let binary = dir.appendingPathComponent("q").path
        let (status, log) = try sh(["swiftc", "-O", "-wmo"] + target.swiftcFlags + sources + [dir.appendingPathComponent("main.swift").path, "-o", binary])
        XCTAssertEqual(status, 0, String(log.prefix(3000)))
        let (runStatus, printed) = try sh([binary])
        XCTAssertEqual(runStatus, 0, printed)
        XCTAssertEqual(printed.split(separator: "\n").map(String.init), expected, "target \(target.rawValue)")
    }

    func testGeneratedCodeCompilesUnderEmbeddedSwift() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("gen").path
        _ = try ConvertCommand.convert(model: Repo.path("fixtures/fer/fer_mini_xception.onnx"), outputDirectory: out,
                                       options: CodegenOptions(name: "FER", labels: ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]), bench: false)
        let source = try String(contentsOfFile: "\(out)/FER.swift", encoding: .utf8)
        // Standard library only; on x86-64 AVX2 targets also the compiler's own intrinsics module (no package).
        XCTAssertEqual(source.split(separator: "\n").filter { $0.hasPrefix("import ") && $0 != "import _Builtin_intrinsics.intel" }, [],
                       "standard library only")
        XCTAssertTrue(source.contains("public func classify("))
        let (status, log) = try sh(["swiftc", "-enable-experimental-feature", "Embedded", "-wmo", "-O", "-parse-as-library", "-Xcc", "-march=native",
                                    "-c", "\(out)/FER.swift", "\(out)/FER+Weights.swift", "-o", dir.appendingPathComponent("fer.o").path])
        XCTAssertEqual(status, 0, log)
    }

    func testPortableTargetBuildsWithoutFMAFlags() throws {
        // Without -march flags, addingProduct would need fmaf; the portable target must not.
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("gen").path
        _ = try ConvertCommand.convert(model: Repo.fixtures + "/inverted_residual_block.onnx", outputDirectory: out,
                                       options: CodegenOptions(name: "P", target: .portable), bench: false)
        let source = try String(contentsOfFile: "\(out)/P.swift", encoding: .utf8)
        XCTAssertFalse(source.contains("acc.addingProduct(a, b)"))
        let input = try NPY.read(path: Repo.fixtures + "/inverted_residual_block.in0.npy").data
        let main = """
        import Foundation
        let model = P()
        let input = FileHandle.standardInput.readDataToEndOfFile().withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        print(model.predict(input).map { String($0.bitPattern) }.joined(separator: " "))
        """
        try Data(main.utf8).write(to: dir.appendingPathComponent("main.swift"))
        let binary = dir.appendingPathComponent("p").path
        let (status, log) = try sh(["swiftc", "-O", "-wmo", "\(out)/P.swift", "\(out)/P+Weights.swift", dir.appendingPathComponent("main.swift").path, "-o", binary])
        XCTAssertEqual(status, 0, log)
        let (runStatus, printed) = try sh([binary], stdin: input.withUnsafeBytes { Data($0) })
        XCTAssertEqual(runStatus, 0, printed)
        let got = printed.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
        let ref = try NPY.read(path: Repo.fixtures + "/inverted_residual_block.out0.npy").data
        XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5)
    }

    func testArenaPlanNeverOverlapsLiveValues() throws {
        var graph = try ModelLoader.load(path: Repo.fixtures + "/inverted_residual_block.onnx")
        _ = try PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
        let plan = ArenaPlanner.plan(graph)
        XCTAssertLessThan(plan.arenaFloats, plan.totalFloats + 1)
        // Every pair of values alive at the same node must not share floats.
        var last: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for v in n.inputs + n.outputs { last[v] = i } }
        for o in graph.outputs { last[o] = graph.nodes.count }
        for (i, n) in graph.nodes.enumerated() {
            let live = graph.values.keys.filter { v in
                guard let o = plan.offsets[v], graph.values[v]?.isConstant == false else { return false }
                _ = o
                let defined = graph.inputs.contains(v) ? -1 : (graph.nodes.firstIndex { $0.outputs.contains(v) } ?? -1)
                return defined <= i && (last[v] ?? -1) >= i
            }
            for a in live { for b in live where a < b {
                if case .reshape = n.op, n.inputs.contains(a) || n.inputs.contains(b) { continue }  // aliases
                let (oa, ob) = (plan.offsets[a]!, plan.offsets[b]!)
                let (sa, sb) = (graph.values[a]!.type.count, graph.values[b]!.type.count)
                if oa == ob && sa == sb { continue }  // a reshape alias
                XCTAssertTrue(oa + sa <= ob || ob + sb <= oa, "\(a) and \(b) overlap at node \(i)")
            } }
        }
    }

    func testInputLayoutNHWCRemovesTheInputTranspose() throws {
        let dir = try temporaryDirectory()
        let model = Repo.fixtures + "/inverted_residual_block.onnx"
        let source = try ConvertCommand.convert(model: model, outputDirectory: dir.appendingPathComponent("a").path, options: CodegenOptions(name: "A"), bench: false)
        let nhwc = try ConvertCommand.convert(model: model, outputDirectory: dir.appendingPathComponent("b").path, options: CodegenOptions(name: "B"),
                                              bench: false, inputLayout: .nhwc)
        XCTAssertEqual(source.layers.filter { $0.op == "Transpose" }.count, 2, "input and output layout conversions")
        XCTAssertEqual(nhwc.layers.filter { $0.op == "Transpose" }.count, 1, "only the output's remains")
        let code = try String(contentsOfFile: dir.appendingPathComponent("b/B.swift").path, encoding: .utf8)
        XCTAssertTrue(code.contains("public static let inputShape: [Int] = [1, 14, 14, 16]"))
    }

    func testConvertErrors() throws {
        let dir = try temporaryDirectory()
        XCTAssertThrowsError(try ConvertCommand.convert(model: Repo.path("fixtures/tflite/int8_sub.tflite"), outputDirectory: dir.appendingPathComponent("q").path,
                                                        options: CodegenOptions(name: "Q"), bench: false)) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "one input and one output"), "\($0)")
        }
        let file = dir.appendingPathComponent("file")
        try Data().write(to: file)
        XCTAssertThrowsError(try ConvertCommand.convert(model: Repo.path("fixtures/fer/fer_mini_xception.onnx"), outputDirectory: file.path + "/out",
                                                        options: CodegenOptions(name: "FER"), bench: false))
        XCTAssertThrowsError(try ConvertCommand.convert(model: Repo.path("fixtures/fer/fer_mini_xception.onnx"), outputDirectory: dir.appendingPathComponent("x").path,
                                                        options: CodegenOptions(name: "9lives"), bench: false))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["file"], "nothing half-written")
    }
}
