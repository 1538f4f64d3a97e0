import Fercc
import FerccIR
import FerccLowering
import FerccPasses
import FerccTestSupport
import Foundation
import XCTest

@testable import FerccCodegen

/// fercc convert: generated Swift that compiles (with no flags at all, with the header's flags,
/// under Embedded Swift), runs, and matches the references; the arena plan is sound.
final class CodegenTests: XCTestCase {
    static let fer = Repo.path("fixtures/fer/fer_mini_xception.onnx")
    static let ferLabels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

    /// Converts for the machine's target, compiles with a caller's own main.swift and the
    /// header's flags, runs on `input`, returns the outputs.
    func convertAndRun(_ model: String, input: [Float], weights: CodegenOptions.Weights, noCopy: Bool = false) throws
        -> [Float]
    {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("gen").path
        let report = try ConvertCommand.convert(
            model: model, outputDirectory: out, options: CodegenOptions(name: "FER", weights: weights, target: .host),
            bench: false)
        XCTAssertLessThanOrEqual(report.arena_bytes, report.activations_sum_bytes)
        let path = "\(out)/FER.weights"
        let make: String
        switch (weights, noCopy) {
        case (.embedded, _): make = "FER()!"
        case (.file, false): make = "FER(weights: [UInt8](try! Data(contentsOf: URL(fileURLWithPath: \"\(path)\"))))!"
        case (.file, true):
            // The weights file mapped into memory and used in place.
            make = """
                { () -> FER in
                    let fd = open("\(path)", O_RDONLY)
                    let size = Int(lseek(fd, 0, SEEK_END))
                    let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)!
                    return FER(weightsNoCopy: UnsafeRawBufferPointer(start: p, count: size))!
                }()
                """
        }
        let main = """
            import Foundation
            let model = \(make)
            let bytes = FileHandle.standardInput.readDataToEndOfFile()
            let input = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            print(model.predict(input).map { String($0.bitPattern) }.joined(separator: " "))
            """
        try Data(main.utf8).write(to: dir.appendingPathComponent("main.swift"))
        var sources = ["\(out)/FER.swift", dir.appendingPathComponent("main.swift").path]
        if weights == .embedded { sources.append("\(out)/FER+Weights.swift") }
        let binary = dir.appendingPathComponent("fer").path
        let (status, log) = try shell(["swiftc", "-O", "-wmo"] + hostTargetFlags + sources + ["-o", binary])
        XCTAssertEqual(status, 0, log)
        let (runStatus, printed) = try shell([binary], stdin: input.withUnsafeBytes { Data($0) })
        XCTAssertEqual(runStatus, 0, printed)
        return printed.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0) }.map {
            Float(bitPattern: $0)
        }
    }

    func testGeneratedFERModelMatchesOnnxRuntime() throws {
        let input = try NPY.read(path: Repo.path("fixtures/fer/face.npy")).data
        let ref = try NPY.read(path: Repo.path("fixtures/fer/expression.npy")).data
        let got = try convertAndRun(Self.fer, input: input, weights: .embedded)
        XCTAssertEqual(got.count, 7)
        XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5)
    }

    /// The weights file, copied by `init?(weights:)` and used in place from a memory mapping by
    /// `init?(weightsNoCopy:)`.
    func testGeneratedCodeWithWeightsFileMatchesOnnxRuntime() throws {
        let input = try NPY.read(path: Repo.fixtures + "/shufflenet_unit.in0.npy").data
        let ref = try NPY.read(path: Repo.fixtures + "/shufflenet_unit.out0.npy").data
        for noCopy in [false, true] {
            let got = try convertAndRun(
                Repo.fixtures + "/shufflenet_unit.onnx", input: input, weights: .file, noCopy: noCopy)
            XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5, "no copy: \(noCopy)")
        }
    }

    /// A 3x3 convolution that the lowering gives to Winograd's F(2x2, 3x3): the generated code
    /// carries and runs that kernel (its transformed weights made by the model's initializer) and
    /// matches onnxruntime, with embedded weights and a weights file.
    func testGeneratedWinogradConvolutionMatchesOnnxRuntime() throws {
        let name = Repo.fixtures + "/conv_3x3_winograd_relu"
        let input = try NPY.read(path: name + ".in0.npy").data
        let ref = try NPY.read(path: name + ".out0.npy").data
        for weights in [CodegenOptions.Weights.embedded, .file] {
            let got = try convertAndRun(name + ".onnx", input: input, weights: weights)
            XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5, "\(weights)")
        }
        // The report counts the transformed weights; --no-winograd keeps the direct kernel.
        for winograd in [true, false] {
            let out = try temporaryDirectory().appendingPathComponent("gen").path
            var options = CodegenOptions(name: "W", target: .host)
            options.winograd = winograd
            let report = try ConvertCommand.convert(
                model: name + ".onnx", outputDirectory: out, options: options, bench: false)
            let source = try String(contentsOfFile: "\(out)/W.swift", encoding: .utf8)
            XCTAssertEqual(source.contains("Kernels.WinogradConv2DKernel(geometry:"), winograd)
            XCTAssertEqual(source.contains("Kernels.Conv2DKernel(geometry:"), !winograd)
            // 16 positions x 3 blocks of 16 outputs x 36 inputs, and 40 zeros.
            XCTAssertEqual(report.kernel_bytes, winograd ? (16 * 3 * 16 * 36 + 40) * 4 : 0)
        }
    }

    /// Every single-input int8 TFLite fixture, converted and compiled together into one binary
    /// (one module, one model class each), run through `predictQuantized` (or `predict` for float
    /// I/O): the raw int8 outputs equal LiteRT's reference kernels' bit for bit. Once per kernel
    /// column this machine can run (its own target with the header's flags, the AVX2 target on an
    /// AVX-512 machine), and for the portable code built with no flags.
    func testGeneratedInt8CodeMatchesTFLiteReferenceKernels() throws {
        let host = HostCPU.current.resolve(.host)
        try checkGeneratedInt8Code(target: host, flags: host.swiftcFlags)
        if host == .x86_64_avx512 {
            try checkGeneratedInt8Code(target: .x86_64_avx2, flags: Target.x86_64_avx2.swiftcFlags)
        }
        try checkGeneratedInt8Code(target: .portable, flags: [])
    }

    func checkGeneratedInt8Code(target: Target, flags: [String]) throws {
        let dir = try temporaryDirectory()
        let index = try TFLiteFixtureIndex.load()
        let fixtures = TFLiteFixtureIndex.directory
        var sources: [String] = [], calls: [String] = [], expected: [String] = []
        for c in index.cases where c.name.hasPrefix("int8_") && c.inputs.count == 1 && c.outputs.count == 1 {
            let name = "Q\(calls.count)"
            let input = try NPY.read(path: fixtures + "/" + c.inputs[0].file).tensor
            let ref = try NPY.read(path: fixtures + "/" + c.outputs[0].file).tensor
            let out = dir.appendingPathComponent(name).path
            _ = try ConvertCommand.convert(
                model: fixtures + "/" + c.model, outputDirectory: out,
                options: CodegenOptions(name: name, target: target),
                bench: false)
            sources += ["\(out)/\(name).swift", "\(out)/\(name)+Weights.swift"]
            switch (input, ref) {
            case (.int8(let x), .int8(let y)):
                calls.append(
                    """
                    do {
                        let m = \(name)()!
                        var y = [Int8](repeating: 0, count: \(y.count))
                        let x: [Int8] = \(x)
                        m.predictQuantized(x, into: &y)
                        print("\(c.name)", y.map(String.init).joined(separator: " "))
                    }
                    """)
                expected.append("\(c.name) " + y.map(String.init).joined(separator: " "))
            case (.float(let x), .float(let y)):
                calls.append(
                    """
                    do {
                        let m = \(name)()!
                        let x: [Float] = [\(x.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
                        print("\(c.name)", m.predict(x).map { String($0.bitPattern) }.joined(separator: " "))
                    }
                    """)
                expected.append("\(c.name) " + y.map { String($0.bitPattern) }.joined(separator: " "))
            default:
                continue
            }
        }
        XCTAssertGreaterThanOrEqual(calls.count, 12)
        let printed = try compileAndRun(
            sources: sources, main: calls.joined(separator: "\n"), in: dir, flags: ["-O", "-wmo"] + flags)
        XCTAssertEqual(printed.split(separator: "\n").map(String.init), expected, "target \(target.rawValue)")
    }

    /// Dynamic-range (hybrid) TFLite fixtures, hand-made and from TensorFlow's converter (the
    /// trained FER mini-Xception among them), compiled into one binary: the generated code
    /// quantizes the input on the fly as LiteRT's hybrid kernels do, matches them within 1e-4 and
    /// the classifiers pick the same class.
    func testGeneratedHybridCodeMatchesLiteRT() throws {
        let dir = try temporaryDirectory()
        let index = try TFLiteFixtureIndex.load()
        let fixtures = TFLiteFixtureIndex.directory
        var sources: [String] = [], calls: [String] = [], references: [[Float]] = []
        for c in index.cases where c.name.hasPrefix("hybrid_") || c.name.contains("dynamic_range") {
            let name = "H\(calls.count)"
            let out = dir.appendingPathComponent(name).path
            _ = try ConvertCommand.convert(
                model: fixtures + "/" + c.model, outputDirectory: out,
                options: CodegenOptions(name: name, target: .host),
                bench: false)
            XCTAssertTrue(
                try String(contentsOfFile: "\(out)/\(name).swift", encoding: .utf8).contains(
                    "Kernels.dynamicQuantize("),
                c.name)
            sources += ["\(out)/\(name).swift", "\(out)/\(name)+Weights.swift"]
            let x = try NPY.read(path: fixtures + "/" + c.inputs[0].file).data
            references.append(try NPY.read(path: fixtures + "/" + c.outputs[0].file).data)
            calls.append(
                """
                print(\(name)()!.predict([\(x.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))])
                    .map { String($0.bitPattern) }.joined(separator: " "))
                """)
        }
        XCTAssertGreaterThanOrEqual(calls.count, 12)
        let printed = try compileAndRun(
            sources: sources, main: calls.joined(separator: "\n"), in: dir, flags: ["-O", "-wmo"] + hostTargetFlags)
        let lines = printed.split(separator: "\n")
        XCTAssertEqual(lines.count, references.count)
        for (k, (line, ref)) in zip(lines, references).enumerated() {
            let got = line.split(separator: " ").compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
            XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-4, "H\(k)")
            if ref.count == 7 {  // the classifiers' probabilities
                XCTAssertEqual(
                    got.indices.max { got[$0] < got[$1] }, ref.indices.max { ref[$0] < ref[$1] }, "H\(k): top-1")
            }
        }
    }

    func testGeneratedCodeCompilesUnderEmbeddedSwift() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("gen").path
        _ = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: out,
            options: CodegenOptions(name: "FER", target: .host, labels: Self.ferLabels),
            bench: false)
        let source = try String(contentsOfFile: "\(out)/FER.swift", encoding: .utf8)
        // Standard library only; on x86-64 AVX2 targets also the compiler's own intrinsics module (no package).
        XCTAssertEqual(
            source.split(separator: "\n").filter {
                $0.hasPrefix("import ") && $0 != "import _Builtin_intrinsics.intel"
            }, [],
            "standard library only")
        XCTAssertTrue(source.contains("public func classify("))
        for flags in [[], hostTargetFlags] {
            let (status, log) = try shell(
                ["swiftc", "-enable-experimental-feature", "Embedded", "-wmo", "-O", "-parse-as-library"] + flags
                    + [
                        "-c", "\(out)/FER.swift", "\(out)/FER+Weights.swift", "-o",
                        dir.appendingPathComponent("fer.o").path
                    ])
            XCTAssertEqual(status, 0, log)
        }
    }

    /// A plain SwiftPM package (`swift package init --type executable`) with the generated files
    /// of a float and an int8 model in one module builds with no flags at all, in debug and
    /// release, and both give their references; the float model's header states the flags for
    /// both swiftc and SwiftPM.
    func testGeneratedCodeBuildsInAPlainSwiftPMPackageWithoutFlags() throws {
        let dir = try temporaryDirectory()
        let package = dir.appendingPathComponent("App")
        let sources = package.appendingPathComponent("Sources/App")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try Data(
            """
            // swift-tools-version:5.9
            import PackageDescription
            let package = Package(name: "App", targets: [.executableTarget(name: "App")])
            """.utf8
        ).write(to: package.appendingPathComponent("Package.swift"))
        let float = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: sources.path, options: CodegenOptions(name: "FER", target: .host),
            bench: false)
        let int8Model = TFLiteFixtureIndex.directory + "/int8_conv_per_channel_relu6.tflite"
        _ = try ConvertCommand.convert(
            model: int8Model, outputDirectory: sources.path, options: CodegenOptions(name: "Int8Net", target: .host),
            bench: false)
        let header = try String(contentsOfFile: sources.appendingPathComponent("FER.swift").path, encoding: .utf8)
            .split(separator: "\n").prefix(6)
        if let settings = Target(rawValue: float.target)?.swiftSettings {
            XCTAssertTrue(
                header.contains {
                    $0.contains("swiftc -O -wmo " + Target(rawValue: float.target)!.swiftcFlags.joined(separator: " "))
                })
            XCTAssertTrue(header.contains { $0.contains("swiftSettings: \(settings)") })
        }
        let face = try NPY.read(path: Repo.path("fixtures/fer/face.npy")).data
        let index = try TFLiteFixtureIndex.load()
        let int8Case = index.cases.first { $0.model == "int8_conv_per_channel_relu6.tflite" }!
        let x = try NPY.read(path: TFLiteFixtureIndex.directory + "/" + int8Case.inputs[0].file).tensor
        let y = try NPY.read(path: TFLiteFixtureIndex.directory + "/" + int8Case.outputs[0].file).tensor
        guard case .int8(let qx) = x, case .int8(let qy) = y else { return XCTFail("int8 fixture") }
        try Data(
            """
            let fer = FER()!
            let face: [Float] = [\(face.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
            print(fer.predict(face).map { String($0.bitPattern) }.joined(separator: " "))
            let q = Int8Net()!
            var y = [Int8](repeating: 0, count: \(qy.count))
            q.predictQuantized(\(qx), into: &y)
            print(y.map(String.init).joined(separator: " "))
            """.utf8
        ).write(to: sources.appendingPathComponent("main.swift"))
        let ref = try NPY.read(path: Repo.path("fixtures/fer/expression.npy")).data
        for configuration in ["debug", "release"] {
            let (status, log) = try swiftBuild(["--package-path", package.path, "-c", configuration])
            XCTAssertEqual(status, 0, buildLogSummary(log))
            let (runStatus, printed) = try shell([package.appendingPathComponent(".build/\(configuration)/App").path])
            XCTAssertEqual(runStatus, 0, printed)
            let lines = printed.split(separator: "\n")
            XCTAssertEqual(lines.count, 2, printed)
            guard lines.count == 2 else { continue }
            let got = lines[0].split(separator: " ").compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
            XCTAssertLessThanOrEqual(relativeError(got, ref), 1e-5, configuration)
            XCTAssertEqual(lines.last.map(String.init), qy.map(String.init).joined(separator: " "), configuration)
        }
    }

    /// The latency benchmark of `convert` calls whatever `predict` the model has: several inputs
    /// (labelled by name), several outputs (labelled by name), one of each (`_`, `into:`).
    func testBenchmarkRunsModelsWithSeveralInputsOrOutputs() throws {
        let dir = try temporaryDirectory()
        for (i, fixture) in ["add_same_shape", "split_num_outputs_opset18", "relu"].enumerated() {
            let r = try ConvertCommand.convert(
                model: Repo.fixtures + "/\(fixture).onnx", outputDirectory: dir.appendingPathComponent("\(i)").path,
                options: CodegenOptions(name: "M\(i)"), bench: true)
            let latency = try XCTUnwrap(r.latency, fixture)
            XCTAssertGreaterThan(latency.median_ms, 0, fixture)
            XCTAssertGreaterThanOrEqual(latency.runs, 20, fixture)
            XCTAssertEqual(latency.layers?.count, r.layers.count, fixture)
        }
    }

    /// Code for a target this machine cannot run is written without a benchmark, with a note
    /// saying why (an arm64 target here; an AVX-512 target on an AVX2-only machine).
    func testCrossTargetsSkipTheBenchmark() throws {
        let dir = try temporaryDirectory()
        let model = Repo.fixtures + "/relu.onnx"
        let arm = try ConvertCommand.convert(
            model: model, outputDirectory: dir.appendingPathComponent("a").path,
            options: CodegenOptions(name: "A", target: .arm64), bench: true)
        XCTAssertNil(arm.latency)
        XCTAssertEqual(arm.latency_note, "not measured: the arm64 code cannot run on this x86_64 machine")
        let avx2Only = HostCPU(
            architecture: .x86_64, flags: ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt"])
        let wide = try ConvertCommand.convert(
            model: model, outputDirectory: dir.appendingPathComponent("b").path,
            options: CodegenOptions(name: "B", target: .x86_64_avx512), bench: true, host: avx2Only)
        XCTAssertNil(wide.latency)
        XCTAssertTrue(
            wide.latency_note?.contains("cannot run on this CPU (no avx512_vnni, avx512bw") == true,
            "\(wide.latency_note ?? "")")
        XCTAssertTrue(ReportRenderer.text(wide).contains("not measured"))
        XCTAssertEqual(avx2Only.resolve(.host), .x86_64_avx2)
        // The headers of arm64 and portable code say that they need no flags.
        let header = try String(contentsOfFile: dir.appendingPathComponent("a/A.swift").path, encoding: .utf8)
        XCTAssertTrue(header.contains("arm64 code needs no flags"))
        XCTAssertFalse(header.contains("-march"))
    }

    func testArenaPlanNeverOverlapsLiveValues() throws {
        var graph = try ModelLoader.load(path: Repo.fixtures + "/inverted_residual_block.onnx")
        _ = try PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
        let plan = ArenaPlanner.plan(graph)
        XCTAssertLessThan(plan.bytes, plan.totalBytes + 1)
        // Every pair of values alive at the same node must not share bytes.
        var last: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for v in n.inputs + n.outputs { last[v] = i } }
        for o in graph.outputs { last[o] = graph.nodes.count }
        for (i, n) in graph.nodes.enumerated() {
            let live = graph.values.keys.filter { v in
                guard plan.offsets[v] != nil, graph.values[v]?.isConstant == false else { return false }
                let defined = graph.inputs.contains(v) ? -1 : (graph.nodes.firstIndex { $0.outputs.contains(v) } ?? -1)
                return defined <= i && (last[v] ?? -1) >= i
            }
            for a in live {
                for b in live where a < b {
                    if case .reshape = n.op, n.inputs.contains(a) || n.inputs.contains(b) { continue }  // aliases
                    let (oa, ob) = (plan.offsets[a]!, plan.offsets[b]!)
                    let ta = graph.values[a]!.type, tb = graph.values[b]!.type
                    let (sa, sb) = (ta.count * ta.dtype.byteSize, tb.count * tb.dtype.byteSize)
                    if oa == ob && sa == sb { continue }  // a reshape alias
                    XCTAssertTrue(oa + sa <= ob || ob + sb <= oa, "\(a) and \(b) overlap at node \(i)")
                }
            }
        }
    }

    func testInputLayoutNHWCRemovesTheInputTranspose() throws {
        let dir = try temporaryDirectory()
        let model = Repo.fixtures + "/inverted_residual_block.onnx"
        let source = try ConvertCommand.convert(
            model: model, outputDirectory: dir.appendingPathComponent("a").path, options: CodegenOptions(name: "A"),
            bench: false)
        let nhwc = try ConvertCommand.convert(
            model: model, outputDirectory: dir.appendingPathComponent("b").path, options: CodegenOptions(name: "B"),
            bench: false, inputLayout: .nhwc)
        XCTAssertEqual(source.layers.filter { $0.op == "Transpose" }.count, 2, "input and output layout conversions")
        XCTAssertEqual(nhwc.layers.filter { $0.op == "Transpose" }.count, 1, "only the output's remains")
        let code = try String(contentsOfFile: dir.appendingPathComponent("b/B.swift").path, encoding: .utf8)
        XCTAssertTrue(code.contains("public static let inputShape: [Int] = [1, 14, 14, 16]"))
    }

    /// The generated file carries only the kernels its model uses: the bundled 48x48 FER model's
    /// class stays small (issue: all kernels made it 254 KB and slow to compile).
    func testGeneratedCodeCarriesOnlyTheKernelsItUses() throws {
        let dir = try temporaryDirectory()
        let report = try ConvertCommand.convert(
            model: Self.fer, outputDirectory: dir.path, options: CodegenOptions(name: "FER", target: .x86_64_avx512),
            bench: false)
        let source = try String(contentsOfFile: dir.appendingPathComponent("FER.swift").path, encoding: .utf8)
        XCTAssertFalse(source.contains("QuantizedDenseConv"), "a float model has no int8 kernels")
        XCTAssertFalse(source.contains("MARK: - Float/Gemm.swift"), "no Gemm in the model")
        // 60.0 KB on 2026-12-04 before the AVX2 clamps and the tiles' pixel cursor (62.8 KB); 64.1 KB
        // with the fused kernels' band epilogue (2026-12-05, for residual adds this model does not have);
        // 68.7 KB with max pooling's own loop and the depthwise row tiles (2026-12-05, 10% faster);
        // 72.1 KB with the convolution's output row pitch (2026-12-06, the fused expansion's rows);
        // 83.9 KB with the AVX-512 tiles of 8-channel blocks (2026-12-06: tap pairs 77.5 KB, pixel
        // pairs 82.3, a run's odd last tap 83.9; this model's 8 -> 8 and 1 -> 8 stem convolutions,
        // the model 0.86x as long); 87.8 KB with the depthwise convolution reading its input in place
        // off AArch64 (which keeps its padded copies) and the 512-bit clamps (2026-12-06: no padded
        // copy of each input row, the model about 0.95x as long); 90.6 KB with AVX-512's 12-pixel tiles
        // of single 16-channel blocks (2026-12-06: BlazeFace 0.94x as long); 92.5 KB with the tiles'
        // stores naming their pixel, for residual adds inside them (2026-12-06: BlazeFace 0.9x as long);
        // 93.8 KB with the depthwise channel blocks run over several rows (2026-12-08: MobileNetV2
        // fp32 0.97x as long).
        XCTAssertLessThan(report.source_bytes, 94_500)
    }

    /// Each kernel file compiles with only the files its header declares (and theirs), for every
    /// target: what generated code carries is exactly that closure, so a missing `requires` shows
    /// here and not in one user's model. One swiftc per target type-checks every closure, each in
    /// its own file and namespace.
    func testEveryKernelFileCompilesFromItsDeclaredRequirements() throws {
        let dir = try temporaryDirectory()
        let targets = [Target.portable, .x86_64_avx2, .x86_64_avx512]
        var commands: [[String]] = []
        for target in targets {
            var files: [String] = []
            for (i, name) in KernelSources.files.keys.sorted().enumerated() {
                let flat = name.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: "+", with: "-")
                let path = dir.appendingPathComponent("\(target.rawValue)-\(flat)").path
                let text =
                    "enum Closure\(i) { enum Kernels {} }\nprivate typealias Kernels = Closure\(i).Kernels\n"
                    + (try KernelSourceIndex.text(for: [name], target: target))
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                files.append(path)
            }
            commands.append(["swiftc", "-typecheck", "-parse-as-library"] + target.swiftcFlags + files)
        }
        let results = LockedResults(count: commands.count)
        DispatchQueue.concurrentPerform(iterations: commands.count) { i in
            results.set(i, Result { try shell(commands[i]) })
        }
        for (target, result) in zip(targets, results.values) {
            let (status, log) = try result.get()
            XCTAssertEqual(status, 0, "\(target.rawValue): \(log.prefix(3000))")
        }
    }

    /// Generated code drops the branches its architecture never takes and keeps every branch a
    /// flag might select, directives included.
    func testGeneratedCodeDropsOtherArchitecturesBranches() {
        let text = """
            a
            #if arch(arm64)
            import NEON
            #endif
              #if arch(x86_64) && FERCC_AVX2
              avx2()
              #elseif arch(arm64)
                #if FERCC_DOTPROD
                dot()
                #endif
              neon()
              #else
              portable()
              #endif
            #if !arch(x86_64)
            notX86()
            #else
            x86OrOther()
            #endif
            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
            fma()
            #endif
            #if os(Linux) // a comment
            linux()
            #endif
            z
            """
        XCTAssertEqual(
            KernelSourceIndex.dropBranches(text, for: .x86_64),
            """
            a
              #if arch(x86_64) && FERCC_AVX2
              avx2()
              #else
              portable()
              #endif
            x86OrOther()
            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
            fma()
            #endif
            #if os(Linux) // a comment
            linux()
            #endif
            z
            """)
        XCTAssertEqual(
            KernelSourceIndex.dropBranches(text, for: .arm64),
            """
            a
            #if arch(arm64)
            import NEON
            #endif
              #if arch(arm64)
                #if FERCC_DOTPROD
                dot()
                #endif
              neon()
              #else
              portable()
              #endif
            #if !arch(x86_64)
            notX86()
            #else
            x86OrOther()
            #endif
            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
            fma()
            #endif
            #if os(Linux) // a comment
            linux()
            #endif
            z
            """)
        XCTAssertEqual(KernelSourceIndex.dropBranches(text, for: .any), text)
    }

    /// What an app uses, in one binary compiled in Swift 6 mode with complete concurrency
    /// checking and warnings as errors: the real face detector's two outputs (`Outputs`) equal
    /// LiteRT's; a two-input model takes labeled inputs; the pixel API's preprocessing equals
    /// `quantize`'s calibration preprocessing bit for bit (gray and RGB images, a crop given by
    /// `bytesPerRow`), and `classify(pixels:)` equals `classify(_:)` on that tensor.
    func testAppAPIsInSwift6WithSeveralInputsAndOutputsAndPixels() throws {
        let dir = try temporaryDirectory()
        let real = Repo.path("fixtures/real")
        var sources: [String] = []
        func generate(_ model: String, _ name: String, labels: [String]? = nil, pixels: Bool = false) throws {
            var p = CalibrationData.Preprocessing()
            p.mean = [0.5]
            p.std = [0.5]
            let out = dir.appendingPathComponent(name).path
            _ = try ConvertCommand.convert(
                model: model, outputDirectory: out, options: CodegenOptions(name: name, target: .host, labels: labels),
                bench: false, pixels: pixels ? p : nil)
            sources += ["\(out)/\(name).swift", "\(out)/\(name)+Weights.swift"]
        }
        try generate(real + "/face_detection_short_range.tflite", "FaceDetector")
        try generate(Repo.path("fixtures/tflite/int8_sub.tflite"), "Sub")
        try generate(real + "/fer_mini_xception.onnx", "FER", labels: Self.ferLabels, pixels: true)
        // Every public declaration of the API (the class, before the kernels) has a doc comment.
        for file in sources {
            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
            let api = lines.prefix { !$0.hasPrefix("// MARK: - ") }
            for (i, line) in api.enumerated() where line.trimmingCharacters(in: .whitespaces).hasPrefix("public ") {
                var j = i - 1
                while j > 0 && api[j].trimmingCharacters(in: .whitespaces).hasPrefix("@") { j -= 1 }
                XCTAssertTrue(
                    j >= 0 && api[j].trimmingCharacters(in: .whitespaces).hasPrefix("///"),
                    "\(URL(fileURLWithPath: file).lastPathComponent):\(i + 1): \(line) has no doc comment")
            }
        }

        let detectorIn = try NPY.read(path: real + "/grace_hopper.detector_in.npy").data
        let a = try NPY.read(path: Repo.path("fixtures/tflite/int8_sub.in0.npy")).tensor
        let b = try NPY.read(path: Repo.path("fixtures/tflite/int8_sub.in1.npy")).tensor
        let y = try NPY.read(path: Repo.path("fixtures/tflite/int8_sub.out0.npy")).tensor
        guard case .int8(let qa) = a, case .int8(let qb) = b, case .int8(let qy) = y else {
            return XCTFail("int8 fixture")
        }
        let gray = try ImageDecoder.decode(Repo.path("fixtures/images/faces/happy/happy_0.png"))
        let rgb = try ImageDecoder.decode(Repo.path("fixtures/images/faces/sad/sad_3.rgb.png"))
        XCTAssertEqual([gray.channels, rgb.channels], [1, 3])
        // Large arrays reach the program as files (as literals they would take the compiler minutes).
        func file<T>(_ name: String, _ values: [T]) throws -> String {
            let url = dir.appendingPathComponent(name)
            try values.withUnsafeBytes { try Data($0).write(to: url) }
            return url.path
        }
        let detectorFile = try file("detector.bin", detectorIn)
        let grayFile = try file("gray.bin", gray.pixels)
        let rgbFile = try file("rgb.bin", rgb.pixels)
        let main = """
            import Foundation
            func bits(_ v: [Float]) -> String { v.map { String($0.bitPattern) }.joined(separator: " ") }
            func load<T>(_ path: String, as: T.Type) -> [T] {
                let data = FileManager.default.contents(atPath: path)!
                return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
            }
            func run() {
                let detector = FaceDetector()!
                let found = detector.predict(load("\(detectorFile)", as: Float.self))
                print(bits(found.regressors))
                print(bits(found.classificators))
                print(found.all.count, FaceDetector.outputNames)
                let sub = Sub()!
                let qa: [Int8] = \(qa)
                let qb: [Int8] = \(qb)
                let (sa, za) = Sub.aQuantization
                let (sb, zb) = Sub.bQuantization
                let (sy, zy) = Sub.outputQuantization
                let y = sub.predict(a: qa.map { Float(Int32($0) - za) * sa }, b: qb.map { Float(Int32($0) - zb) * sb })
                print(y.map { String(Int32(($0 / sy).rounded()) + zy) }.joined(separator: " "))
                let gray = load("\(grayFile)", as: UInt8.self)
                let rgb = load("\(rgbFile)", as: UInt8.self)
                var input = [Float](repeating: 0, count: 64 * 64)
                FER.preprocess(pixels: gray, width: \(gray.width), height: \(gray.height), bytesPerRow: \(gray.width), format: .gray8, into: &input)
                print(bits(input))
                let fer = FER()!
                print(fer.classify(pixels: gray, width: \(gray.width), height: \(gray.height), bytesPerRow: \(gray.width), format: .gray8) == fer.classify(input))
                FER.preprocess(pixels: rgb, width: \(rgb.width), height: \(rgb.height), bytesPerRow: \(rgb.width * 3), format: .rgb8, into: &input)
                print(bits(input))
                // The lower-right 40x30 pixels of the RGB image, as a crop of the whole.
                let x0 = \(rgb.width - 40), y0 = \(rgb.height - 30)
                rgb.withUnsafeBufferPointer {
                    FER.preprocess(pixels: $0.baseAddress! + (y0 * \(rgb.width) + x0) * 3, width: 40, height: 30, bytesPerRow: \(rgb.width * 3), format: .rgb8, into: &input)
                }
                print(bits(input))
            }
            run()
            """
        let printed = try compileAndRun(
            sources: sources, main: main, in: dir,
            flags: ["-swift-version", "6", "-strict-concurrency=complete", "-warnings-as-errors", "-O", "-wmo"]
                + hostTargetFlags)
        let lines = printed.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 8, String(printed.prefix(500)))
        guard lines.count == 8 else { return }
        func parse(_ line: String) -> [Float] {
            line.split(separator: " ").compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
        }
        let regressors = try NPY.read(path: real + "/grace_hopper.regressors.npy").data
        let classificators = try NPY.read(path: real + "/grace_hopper.classificators.npy").data
        XCTAssertEqual(parse(lines[0]).count, 896 * 16)
        XCTAssertLessThanOrEqual(relativeError(parse(lines[0]), regressors), 1e-4)
        XCTAssertLessThanOrEqual(relativeError(parse(lines[1]), classificators), 1e-4)
        XCTAssertEqual(lines[2], #"2 ["regressors", "classificators"]"#)
        XCTAssertEqual(lines[3], qy.map(String.init).joined(separator: " "))
        var p = CalibrationData.Preprocessing()
        p.mean = [0.5]
        p.std = [0.5]
        let geometry = CalibrationData.InputGeometry(TensorType(.float32, [1, 1, 64, 64]), sourceFormat: "onnx")
        let expected = try CalibrationData.prepare(gray, geometry: geometry, preprocessing: p, source: "gray")
        XCTAssertEqual(parse(lines[4]).map(\.bitPattern), expected.map(\.bitPattern), "gray pixels")
        XCTAssertEqual(lines[5], "true")
        let expectedRGB = try CalibrationData.prepare(rgb, geometry: geometry, preprocessing: p, source: "rgb")
        XCTAssertEqual(parse(lines[6]).map(\.bitPattern), expectedRGB.map(\.bitPattern), "RGB pixels")
        var crop: [UInt8] = []
        for row in (rgb.height - 30)..<rgb.height {
            crop += rgb.pixels[(row * rgb.width + rgb.width - 40) * 3..<(row * rgb.width + rgb.width) * 3]
        }
        let expectedCrop = try CalibrationData.prepare(
            Image(width: 40, height: 30, channels: 3, pixels: crop), geometry: geometry, preprocessing: p,
            source: "crop")
        XCTAssertEqual(parse(lines[7]).map(\.bitPattern), expectedCrop.map(\.bitPattern), "crop")
    }

    func testConvertErrors() throws {
        let dir = try temporaryDirectory()
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Repo.path("fixtures/real/face_detection_short_range.tflite"),
                outputDirectory: dir.appendingPathComponent("q").path,
                options: CodegenOptions(name: "Q", labels: ["a"]), bench: false)
        ) {
            XCTAssertNotNil(
                ($0 as? FerccError)?.reason.range(of: "needs a model with one output (this one has 2)"), "\($0)")
        }
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Repo.path("fixtures/tflite/int8_sub.tflite"),
                outputDirectory: dir.appendingPathComponent("q").path,
                options: CodegenOptions(name: "Q"), bench: false, pixels: .init())
        ) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "one input (this one has 2)"), "\($0)")
        }
        let file = dir.appendingPathComponent("file")
        try Data().write(to: file)
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Self.fer, outputDirectory: file.path + "/out", options: CodegenOptions(name: "FER"), bench: false
            ))
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Self.fer, outputDirectory: dir.appendingPathComponent("x").path,
                options: CodegenOptions(name: "9lives"), bench: false))
        // The plan's weights, arena and scratch together, past the limit: the import's check (weights
        // and every activation, 6.9 KiB) passes at 8 KiB, the plan (with 7 KiB of scratch) does not.
        var small = ModelLoader.Options()
        small.maxMemory = 8 << 10
        XCTAssertThrowsError(
            try ConvertCommand.convert(
                model: Repo.fixtures + "/conv_depthwise_5x5_dilated.onnx",
                outputDirectory: dir.appendingPathComponent("y").path, options: CodegenOptions(name: "Y"),
                bench: false, loading: small)
        ) {
            XCTAssertNotNil(
                ($0 as? FerccError)?.description.range(
                    of: "conv_depthwise_5x5_dilated.onnx: the generated model needs 11.0 KiB (weights 864 bytes, "
                        + "activations 3.1 KiB, scratch 7.0 KiB), more than the memory limit of 8.0 KiB (--max-memory)"),
                "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["file"], "nothing half-written")
    }

    /// The generated initializers return nil, instead of trapping, when the memory for the model
    /// cannot be had: here an arena of 2^52 bytes (the constant edited in the generated source),
    /// which no allocator gives; the weights-file initializer too, and a normal build still works.
    func testInitializerReturnsNilWhenMemoryCannotBeHad() throws {
        let dir = try temporaryDirectory()
        /// `model` converted with each kind of weights: "model" as generated, "nil" once `edit`
        /// made an allocation impossible.
        func check(_ model: String, _ label: String, _ edit: (String) throws -> String) throws {
            for weights in CodegenOptions.Weights.allCases {
                let out = dir.appendingPathComponent("\(label)-\(weights)")
                _ = try ConvertCommand.convert(
                    model: Repo.fixtures + "/" + model, outputDirectory: out.path,
                    options: CodegenOptions(name: "Net", weights: weights), bench: false)
                let source = out.appendingPathComponent("Net.swift")
                let text = try String(contentsOf: source, encoding: .utf8)
                let make =
                    weights == .embedded
                    ? "Net()"
                    : "Net(weights: [UInt8](try! Data(contentsOf: URL(fileURLWithPath: \"\(out.path)/Net.weights\"))))"
                let main = "import Foundation\nprint(\(make) == nil ? \"nil\" : \"model\")"
                var sources = [source.path]
                if weights == .embedded { sources.append(out.appendingPathComponent("Net+Weights.swift").path) }
                XCTAssertEqual(
                    try compileAndRun(sources: sources, main: main, in: out).trimmingCharacters(
                        in: .whitespacesAndNewlines),
                    "model", "\(label), \(weights)")
                try edit(text).write(to: source, atomically: true, encoding: .utf8)
                XCTAssertEqual(
                    try compileAndRun(sources: sources, main: main, in: out).trimmingCharacters(
                        in: .whitespacesAndNewlines),
                    "nil", "\(label), \(weights)")
            }
        }
        // The arena and scratch.
        try check("conv_3x3_pad_bias.onnx", "arena") { text in
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("static let arenaByteCount = ") })
            return text.replacingOccurrences(of: line, with: "    static let arenaByteCount = 1 << 52")
        }
        // A kernel that allocates for itself (Winograd's transformed weights).
        try check("conv_3x3_winograd_relu.onnx", "winograd") { text in
            let allocation = "allocateZeroed(byteCount: (count + zeros) * 4)"
            XCTAssertTrue(text.contains(allocation))
            return text.replacingOccurrences(of: allocation, with: "allocateZeroed(byteCount: 1 << 52)")
        }
    }
}

/// Results filled in by concurrent workers.
final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Result<(Int32, String), Error>?]
    init(count: Int) { stored = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<(Int32, String), Error>) { lock.lock(); stored[i] = r; lock.unlock() }
    var values: [Result<(Int32, String), Error>] { stored.map { $0! } }
}
