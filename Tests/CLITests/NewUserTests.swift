import Fercc
import FerccCodegen
import FerccIR
import FerccPasses
import FerccQuantize
import FerccTestSupport
import Foundation
import XCTest

/// What a new user tripped over (issue 20): files lost or refused on `-o`/`--output`/`--dump`,
/// names and labels that break the generated code, crashes and silent mistakes on ordinary input.
final class NewUserTests: XCTestCase {
    static let fer = Repo.path("fixtures/fer/fer_mini_xception.onnx")
    static let faces = Repo.path("fixtures/images/faces")

    func files(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    /// 1. `-o` into an existing directory writes fercc's files and leaves the others; a file is
    /// refused; `-o .` keeps the current directory's files.
    func testOutputDirectoryKeepsTheUsersFiles() throws {
        let dir = try temporaryDirectory()
        let app = dir.appendingPathComponent("Sources/MyApp")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        try Data("print(1)\n".utf8).write(to: app.appendingPathComponent("main.swift"))
        try Data("notes\n".utf8).write(to: app.appendingPathComponent("Notes.md"))
        _ = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: app.path, options: CodegenOptions(name: "FER"), bench: false)
        XCTAssertEqual(
            try files(app), ["FER+Weights.swift", "FER.swift", "Notes.md", "main.swift", "report.html", "report.json"])
        XCTAssertEqual(try String(contentsOf: app.appendingPathComponent("main.swift"), encoding: .utf8), "print(1)\n")
        // Again with a weights file: the embedded form of the same class goes, nothing else.
        _ = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: app.path, options: CodegenOptions(name: "FER", weights: .file),
            bench: false)
        XCTAssertEqual(
            try files(app), ["FER.swift", "FER.weights", "Notes.md", "main.swift", "report.html", "report.json"])

        let file = dir.appendingPathComponent("afile")
        try Data("keep me\n".utf8).write(to: file)
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Self.fer, outputDirectory: file.path, options: CodegenOptions(name: "FER"), bench: false)
        ) {
            XCTAssertTrue("\($0)".contains("is a file, not a directory"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "keep me\n")

        // quantize -o: the same rules.
        var options = QuantizeCommand.Options()
        options.holdout = 0
        _ = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.faces, outputDirectory: app.path,
            codegen: CodegenOptions(name: "FERInt8"),
            bench: false, options: options)
        XCTAssertTrue(try files(app).contains("main.swift"))
        XCTAssertTrue(try files(app).contains("FERInt8.swift"))
        XCTAssertThrowsError(
            try QuantizeCommand.run(
                model: Self.fer, calibration: Self.faces, outputDirectory: file.path,
                codegen: CodegenOptions(name: "Q"), bench: false, options: options))

        // -o . through the CLI, from a directory with a file of its own.
        let cwd = dir.appendingPathComponent("here")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        try Data("mine\n".utf8).write(to: cwd.appendingPathComponent("Package.swift"))
        let r = try FerccProcess.run(["convert", Self.fer, "-o", ".", "--name", "FER", "--no-bench"], in: cwd)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(
            try files(cwd), ["FER+Weights.swift", "FER.swift", "Package.swift", "report.html", "report.json"])
        XCTAssertFalse(try files(dir).contains { $0.contains(".tmp-") }, "no temporary file left")
    }

    /// 2 and 3. `--output` replaces its file on a second run; `--dump` creates its directory and
    /// replaces its files on a second run.
    func testRunReplacesOutputsAndCreatesTheDumpDirectory() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("y.npy").path
        let dump = dir.appendingPathComponent("dump/nested").path
        for _ in 0..<2 {
            _ = try RunCommand.run(
                model: Repo.fixtures + "/relu.onnx", inputs: [.init(Repo.fixtures + "/relu.in0.npy")],
                outputs: [.init(out)],
                dumpDirectory: dump)
        }
        XCTAssertEqual(try NPY.read(path: out), try NPY.read(path: Repo.fixtures + "/relu.out0.npy"))
        XCTAssertTrue(try files(URL(fileURLWithPath: dump)).contains("index.tsv"))
        XCTAssertEqual(try files(dir), ["dump", "y.npy"])
        XCTAssertThrowsError(
            try RunCommand.run(
                model: Repo.fixtures + "/relu.onnx", inputs: [.init(Repo.fixtures + "/relu.in0.npy")],
                outputs: [.init(dir.path)])
        ) {
            XCTAssertTrue("\($0)".contains("is a directory"), "\($0)")
        }
    }

    /// 4. Ctrl-C while `convert` compiles its benchmark leaves no temporary file, no work
    /// directory and no compiler running, and fercc dies of the signal.
    func testInterruptedConvertCleansUp() throws {
        let dir = try temporaryDirectory()
        let tmp = dir.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("out")
        let p = FerccProcess.start(["convert", Self.fer, "-o", out.path], environment: ["TMPDIR": tmp.path])
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until a compiler works on the benchmark in fercc's work directory.
        func compilers() -> [String] {
            let ps = (try? shell(["ps", "-eo", "stat=,args="]).1) ?? ""
            return ps.split(separator: "\n").map(String.init).filter {
                $0.contains(tmp.path) && !$0.hasPrefix("Z") && !$0.contains(" ps ")
            }
        }
        let deadline = Date().addingTimeInterval(120)
        while compilers().isEmpty && p.isRunning && Date() < deadline { usleep(100_000) }
        XCTAssertTrue(p.isRunning, "fercc ended before its benchmark compiled")
        XCTAssertFalse(compilers().isEmpty, "no compiler seen")
        usleep(500_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, Process.TerminationReason.uncaughtSignal)
        XCTAssertEqual(p.terminationStatus, SIGINT)
        usleep(300_000)
        XCTAssertEqual(compilers(), [], "a compiler outlived fercc")
        XCTAssertEqual(try files(tmp), [], "work directory left behind")
        XCTAssertEqual(try files(dir), ["tmp"], "output or temporary files left behind")
    }

    /// The same model and options give the same bytes: generated sources, weights (embedded and
    /// as a file) and reports of `convert`, and everything `quantize` writes from the same
    /// calibration data (without the benchmark, whose timings vary).
    func testOutputIsReproducible() throws {
        let dir = try temporaryDirectory()
        func contents(_ d: URL) throws -> [String: Data] {
            var out: [String: Data] = [:]
            for f in try files(d) { out[f] = try Data(contentsOf: d.appendingPathComponent(f)) }
            return out
        }
        for weights in CodegenOptions.Weights.allCases {
            var runs: [[String: Data]] = []
            for k in 0..<2 {
                let out = dir.appendingPathComponent("convert-\(weights)-\(k)")
                _ = try ConvertCommand.convert(
                    model: Self.fer, outputDirectory: out.path,
                    options: CodegenOptions(name: "FER", weights: weights, labels: FER2013.labels), bench: false)
                runs.append(try contents(out))
            }
            XCTAssertGreaterThanOrEqual(runs[0].count, 4)
            XCTAssertEqual(runs[0], runs[1], "convert, weights \(weights)")
        }
        var runs: [[String: Data]] = []
        for k in 0..<2 {
            let out = dir.appendingPathComponent("quantize-\(k)")
            var options = QuantizeCommand.Options()
            options.holdout = 0.25
            _ = try QuantizeCommand.run(
                model: Self.fer, calibration: Self.faces, outputDirectory: out.path,
                codegen: CodegenOptions(name: "FERInt8"), bench: false, options: options)
            runs.append(try contents(out))
        }
        XCTAssertGreaterThanOrEqual(runs[0].count, 7)
        XCTAssertEqual(runs[0], runs[1], "quantize")
    }

    /// 9. Class names that would not compile are refused up front; names from files are made
    /// valid; labels reach the generated code exactly; a label count unlike the output's is refused.
    func testNamesAndLabels() throws {
        let dir = try temporaryDirectory()
        for bad in ["class", "Float", "Int8", "self", "9lives", "a-b", "Kernels", ""] {
            XCTAssertThrowsError(
                try ConvertCommand.convert(
                    model: Self.fer, outputDirectory: dir.appendingPathComponent("x").path,
                    options: CodegenOptions(name: bad), bench: false), bad)
        }
        XCTAssertEqual(SwiftNames.typeName(fromFileName: "self"), "SelfModel")
        XCTAssertEqual(SwiftNames.typeName(fromFileName: "float"), "FloatModel")
        XCTAssertEqual(SwiftNames.typeName(fromFileName: "mobilenet_v2.opset13"), "MobilenetV2Opset13")
        XCTAssertEqual(SwiftNames.typeName(fromFileName: "7up"), "Model7up")
        XCTAssertEqual(SwiftNames.stringLiteral("a\"b\\c\nd\u{1}"), #""a\"b\\c\nd\u{1}""#)
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Self.fer, outputDirectory: dir.appendingPathComponent("x").path,
                options: CodegenOptions(name: "FER", labels: ["a", "b"]), bench: false)
        ) {
            XCTAssertTrue(
                "\($0)".contains("--labels names 2 classes, but the output 'expression' has 7 values"), "\($0)")
        }
        XCTAssertEqual(try files(dir), [], "nothing half-written")

        // A model file called self.onnx, converted with its default name and hostile labels, compiles
        // and classify() returns the labels byte for byte.
        let model = dir.appendingPathComponent("self.onnx")
        try FileManager.default.copyItem(atPath: Self.fer, toPath: model.path)
        let labels = ["a\"b", "c\\d", "new\nline", "t\tab", "#\"raw\"#", "ünï", "😀"]
        let r = try FerccProcess.run([
            "convert", model.path, "-o", dir.appendingPathComponent("gen").path, "--no-bench",
            "--labels", labels.joined(separator: ",")
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = dir.appendingPathComponent("gen").path
        let literals = labels.map(SwiftNames.stringLiteral).joined(separator: ", ")
        let main = """
            let model = SelfModel()!
            print(SelfModel.labels == [\(literals)] ? "same" : "different")
            print(model.classify([Float](repeating: 0.5, count: 48 * 48)).label.utf8.count > 0)
            """
        let printed = try compileAndRun(
            sources: ["\(out)/SelfModel.swift", "\(out)/SelfModel+Weights.swift"], main: main, in: dir,
            flags: ["-O", "-Xcc", "-march=native"])
        XCTAssertEqual(printed, "same\ntrue\n")
    }

    /// 10. A directory given as the model is a one-line error, not a trap.
    func testDirectoryAsModel() throws {
        for args in [["inspect", "."], ["run", ".", "--input", "x.npy"], ["convert", ".", "-o", "out"]] {
            FerccProcess.assertOneLineError(
                try FerccProcess.run(args, in: try temporaryDirectory()), contains: "is a directory, not a model file")
        }
    }

    /// 11. FER2013 CSVs written on Windows (CRLF) read like the others; --usage ignores case.
    func testFER2013CSVWithCRLFLineEnds() throws {
        let dir = try temporaryDirectory()
        let text = try String(contentsOfFile: Repo.path("fixtures/images/fer2013_sample.csv"), encoding: .utf8)
        let crlf = dir.appendingPathComponent("fer2013.csv")
        try Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: crlf)
        XCTAssertEqual(try FER2013.read(crlf.path, usage: nil, limit: nil).count, 6)
        XCTAssertEqual(try FER2013.read(crlf.path, usage: "publictest", limit: nil).count, 3)
        XCTAssertEqual(
            try FER2013.read(crlf.path, usage: "TRAINING", limit: nil).map(\.label), ["happy", "sad", "neutral"])
    }

    /// 12. `--exclude` takes the fused names `inspect --optimized` prints; text `inspect` prints
    /// names whole.
    func testExcludeTakesFusedNamesAndInspectPrintsNamesWhole() throws {
        let (optimized, _) = try ModelLoader.load(path: Self.fer, pipeline: PassManager.defaultPipeline)
        guard
            let fused = optimized.nodes.first(where: {
                if case .depthwisePointwise = $0.op { return true } else { return false }
            })
        else {
            return XCTFail("the FER model has no fused depthwise+pointwise node")
        }
        var options = QuantizeCommand.Options()
        options.holdout = 0
        options.quantize.exclude = [fused.name]
        let dir = try temporaryDirectory()
        let r = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.faces, outputDirectory: dir.appendingPathComponent("q").path,
            codegen: CodegenOptions(name: "Q"), bench: false, options: options)
        let parts = Set(fused.name.split(separator: "+").map(String.init))
        XCTAssertEqual(parts.count, 2)
        XCTAssertTrue(parts.isSubset(of: r.accuracy.float_nodes), "\(parts) not in \(r.accuracy.float_nodes)")
        options.quantize.exclude = [fused.name + "+nonsense"]
        XCTAssertThrowsError(
            try QuantizeCommand.run(
                model: Self.fer, calibration: Self.faces, outputDirectory: dir.appendingPathComponent("e").path,
                codegen: CodegenOptions(name: "Q"), bench: false, options: options))
        let text = InspectReport(graph: optimized, model: Self.fer).text()
        for node in optimized.nodes { XCTAssertTrue(text.contains("  \(node.name)  "), node.name) }
    }

    /// 13. `evaluate --quantized` refuses another model's directory at once, and names what it
    /// evaluates by its precision.
    func testEvaluateChecksTheGeneratedModel() throws {
        let dir = try temporaryDirectory()
        let other = dir.appendingPathComponent("other").path
        _ = try ConvertCommand.convert(
            model: Repo.fixtures + "/relu.onnx", outputDirectory: other, options: CodegenOptions(name: "Other"),
            bench: false)
        let start = Date()
        XCTAssertThrowsError(
            try EvaluateCommand.run(
                model: Self.fer, data: Repo.path("fixtures/images/fer2013_sample.csv"), labels: nil,
                quantized: other, preprocessing: .init(), limit: nil)
        ) {
            XCTAssertTrue("\($0)".contains("was generated from another model"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused before compiling anything")
        let float = dir.appendingPathComponent("float").path
        let report = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: float, options: CodegenOptions(name: "F"), bench: false)
        XCTAssertEqual(report.precision, "fp32")
        XCTAssertEqual(report.model_sha256?.count, 64)
    }

    /// 14. Option values are checked, not clamped or ignored; quantize takes --input-layout;
    /// usage mistakes are one `error:` line with exit status 1.
    func testOptionsAreCheckedAndUsageErrorsAreOneLine() throws {
        let out = try temporaryDirectory().appendingPathComponent("q").path
        for (value, expected) in [("101", "from 50 to 100"), ("-5", "from 50 to 100"), ("nan", "from 50 to 100")] {
            FerccProcess.assertOneLineError(
                try FerccProcess.run([
                    "quantize", Self.fer, "--calib", Self.faces, "-o", out, "--method", "percentile",
                    "--percentile=\(value)", "--no-bench"
                ]), contains: expected)
        }
        FerccProcess.assertOneLineError(
            try FerccProcess.run([
                "quantize", Self.fer, "--calib", Self.faces, "-o", out, "--percentile", "99", "--no-bench"
            ]),
            contains: "--percentile applies only with --method percentile")
        FerccProcess.assertOneLineError(
            try FerccProcess.run(["convert", Self.fer, "-o", out, "--weights", "banana"]),
            contains: "--weights must be one of")
        FerccProcess.assertOneLineError(
            try FerccProcess.run([
                "quantize", Self.fer, "--calib", Self.faces, "-o", out, "--weight-rounding", "banana", "--no-bench"
            ]),
            contains: "--weight-rounding must be one of nearest, gptq, not 'banana'")
        FerccProcess.assertOneLineError(
            try FerccProcess.run(["convert"]), contains: "Missing expected argument '<model>'")
        FerccProcess.assertOneLineError(
            try FerccProcess.run(["no-such-command"]), contains: "Unexpected argument 'no-such-command'")
        FerccProcess.assertOneLineError(
            try FerccProcess.run(["convert", Self.fer, "-o", out, "--no-such-flag"]), contains: "--no-such-flag")
        XCTAssertEqual(try FerccProcess.run(["convert", "--help"]).status, 0)
        // Case does not matter in option values; quantize takes --input-layout.
        let q = try FerccProcess.run([
            "quantize", Self.fer, "--calib", Self.faces, "-o", out, "--input-layout", "NHWC", "--method", "MinMax",
            "--weight-rounding", "GPTQ", "--no-bench", "--name", "Q"
        ])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("rounding gptq ("), q.stdout)
        let source = try String(contentsOfFile: out + "/Q.swift", encoding: .utf8)
        XCTAssertTrue(source.contains("inputShape: [Int] = [1, 48, 48, 1]"), "NHWC input")
    }

    /// 15. A CMYK JPEG is valid: say that its color space is unsupported, not that it is corrupt.
    func testCMYKJPEGIsUnsupportedNotCorrupt() throws {
        XCTAssertThrowsError(try ImageDecoder.decode(Repo.path("fixtures/images/bad/cmyk.jpg"))) {
            XCTAssertTrue("\($0)".contains("CMYK"), "\($0)")
            XCTAssertFalse("\($0)".contains("corrupt"), "\($0)")
        }
    }

    /// 16. An accuracy report on fewer than 20 samples says so in its first line.
    func testAccuracyOnFewSamplesSaysSo() throws {
        var options = QuantizeCommand.Options()
        options.holdout = 0.25
        let r = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.faces,
            outputDirectory: try temporaryDirectory().appendingPathComponent("q").path,
            codegen: CodegenOptions(name: "Q"), bench: false, options: options)
        XCTAssertTrue(r.accuracy.text().hasPrefix("warning: measured on only 3 held-out samples"), r.accuracy.text())
    }
}
