import FerccCodegen
import FerccIR
import FerccKernels
import FerccLowering
import FerccPasses
import FerccTFLite
import Foundation

/// `fercc convert`: optimize, emit Swift, write the output directory atomically, and report
/// sizes and (unless disabled) measured latency.
public enum ConvertCommand {
    public struct Report: Codable {
        public struct LayerTime: Codable {
            public var index: Int
            public var name: String
            public var op: String
            public var ms: Double
        }
        public struct Latency: Codable {
            public var layers: [LayerTime]?
            public var runs: Int
            public var median_ms: Double
            public var p10_ms: Double
            public var p90_ms: Double
            public var gflops: Double
            public var compile_seconds: Double
            public var binary_bytes: Int
            public var swiftc_flags: [String]
        }
        public var model: String
        /// SHA-256 of the model file, so that `evaluate --quantized` can tell another model's output.
        public var model_sha256: String?
        /// fp32, int8, or int8+fp32 (a quantized graph with layers kept in float).
        public var precision: String?
        public var name: String
        public var target: String
        /// The swiftc flags that turn on the target's fast paths (the generated file's header
        /// names them too); the code also builds without them, on its portable paths.
        public var swiftc_flags: [String]?
        public var weights: String
        public var nodes: Int
        public var weight_bytes: Int
        public var arena_bytes: Int
        public var scratch_bytes: Int
        /// Memory the kernels allocate for themselves when the model is made (Winograd's
        /// transformed 3x3 weights), besides weights, arena and scratch.
        public var kernel_bytes: Int?
        public var activations_sum_bytes: Int
        public var source_bytes: Int
        public var weights_source_bytes: Int
        public var macs: Int
        public var passes: [PassResult]
        public var layers: [LayerReport]
        public var latency: Latency?
        /// Why the latency was not measured (a target this machine cannot run).
        public var latency_note: String?
    }

    /// The generated class name must be a Swift type name that compiles; checked before any slow work.
    static func checkName(_ options: CodegenOptions) throws {
        if let problem = SwiftNames.problem(withTypeName: options.name) {
            throw FerccError("--name '\(options.name)' \(problem)")
        }
    }

    /// The layout the generated API takes its 4-D input in.
    public enum InputLayout: String, CaseIterable { case source, nhwc, nchw }

    /// `pixels`: the preprocessing of `predict(pixels:...)` (no pixel API when nil).
    public static func convert(
        model: String, outputDirectory: String, options: CodegenOptions, bench: Bool,
        inputLayout: InputLayout = .source, pixels: CalibrationData.Preprocessing? = nil, host: HostCPU = .current,
        loading: ModelLoader.Options = .init()
    ) throws -> Report {
        try checkName(options)
        var (graph, passes) = try ModelLoader.load(path: model, pipeline: PassManager.defaultPipeline, options: loading)
        if inputLayout != .source {
            try changeInputLayout(&graph, to: inputLayout, model: model)
            passes += try PassManager.run(&graph, pipeline: ["to-nhwc", "eliminate-dead-code"])
        }
        var options = options
        options.maxMemory = loading.maxMemory
        if let pixels {
            options.imageInput = try imageInput(graph, layout: inputLayout, preprocessing: pixels, model: model)
        }
        return try emit(
            graph, passes: passes, model: model, outputDirectory: outputDirectory, options: options, bench: bench,
            host: host)
    }

    /// Emits an already optimized (or quantized) graph into `outputDirectory`, atomically, with
    /// the reports and any `extraFiles` (name -> contents).
    public static func emit(
        _ graph: Graph, passes: [PassResult], model: String, outputDirectory: String, options: CodegenOptions,
        bench: Bool, extraFiles: [String: Data] = [:], host: HostCPU = .current
    ) throws -> Report {
        try checkName(options)
        var options = options
        options.target = host.resolve(options.target)
        let code: GeneratedCode
        do {
            code = try SwiftEmitter.emit(graph, options: options)
        } catch let e as FerccError {
            throw e.inFile(model)
        }
        let directory = try OutputDirectory(outputDirectory)
        let name = options.name
        var files: [(name: String, data: Data)] = [("\(name).swift", Data(code.kernelSource.utf8))]
        if let w = code.weightsSource { files.append(("\(name)+Weights.swift", Data(w.utf8))) }
        if let f = code.weightsFile { files.append(("\(name).weights", Data(f))) }
        var report = Report(
            model: model, model_sha256: modelDigest(model), precision: precision(graph),
            name: name, target: options.target.rawValue, swiftc_flags: options.target.swiftcFlags,
            weights: options.weights.rawValue,
            nodes: graph.nodes.count, weight_bytes: code.weightBytes, arena_bytes: code.arena.bytes,
            scratch_bytes: code.scratchBytes, activations_sum_bytes: code.arena.totalBytes,
            source_bytes: code.kernelSource.utf8.count, weights_source_bytes: code.weightsSource?.utf8.count ?? 0,
            macs: code.layers.reduce(0) { $0 + $1.macs }, passes: passes, layers: code.layers, latency: nil)
        report.kernel_bytes = code.kernelBytes
        if bench {
            if let reason = host.cannotRun(options.target) {
                report.latency_note = "not measured: \(reason)"
            } else {
                report.latency = try Benchmark.run(
                    files: files, options: options, call: Benchmark.Call(code), macs: report.macs, layers: code.layers)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        files.append(("report.json", try encoder.encode(report)))
        files.append(("report.html", Data(ReportRenderer.html(report).utf8)))
        for (file, data) in extraFiles.sorted(by: { $0.key < $1.key }) { files.append((file, data)) }
        // The other weights form of the same class, from an earlier run, would define it twice.
        try directory.write(files, removing: ["\(name)+Weights.swift", "\(name).weights"])
        return report
    }
}

/// The pixel API's preprocessing for the graph's (single, 4-D image) input, in the layout the
/// generated API takes it in.
func imageInput(
    _ graph: Graph, layout: ConvertCommand.InputLayout, preprocessing: CalibrationData.Preprocessing, model: String
) throws -> Kernels.ImageInput {
    guard graph.inputs.count == 1 else {
        throw FerccError(file: model, "the pixel API needs a model with one input (this one has \(graph.inputs.count))")
    }
    var geometry = CalibrationData.InputGeometry(graph.values[graph.inputs[0]]!.type, sourceFormat: graph.source.format)
    if layout != .source { geometry.nchw = layout == .nchw }
    return try CalibrationData.imageInput(geometry: geometry, preprocessing: preprocessing, source: model)
}

/// SHA-256 of a model file (nil when it cannot be read).
func modelDigest(_ path: String) -> String? {
    readFileContents(path).map { SHA256.hex($0) }
}

/// fp32, int8, or int8+fp32: what the graph's compute nodes (not the boundary conversions) run in.
func precision(_ graph: Graph) -> String {
    var int8 = 0, float = 0
    for node in graph.nodes {
        switch node.op {
        case .quantize, .dequantize, .reshape, .transpose, .concat, .split, .slice, .pad, .channelShuffle, .interleave:
            continue
        default: break
        }
        if graph.values[node.outputs[0]]?.type.dtype.isQuantized == true { int8 += 1 } else { float += 1 }
    }
    return int8 == 0 ? "fp32" : (float == 0 ? "int8" : "int8+fp32")
}

/// Makes the graph take its 4-D input in `layout`: a new input and a transpose to the old one,
/// which `to-nhwc` then cancels against the model's own layout transpose.
func changeInputLayout(_ graph: inout Graph, to layout: ConvertCommand.InputLayout, model: String) throws {
    let input = graph.inputs[0]
    let t = graph.values[input]!.type
    guard t.rank == 4 else { throw FerccError(file: model, "--input-layout needs a 4-D input, '\(input)' is \(t)") }
    let source: ConvertCommand.InputLayout = graph.source.format == "onnx" ? .nchw : .nhwc
    guard layout != source else { return }
    // perm maps the new layout to the source layout.
    let perm = layout == .nhwc ? [0, 3, 1, 2] : [0, 2, 3, 1]
    let inverse = layout == .nhwc ? [0, 2, 3, 1] : [0, 3, 1, 2]
    let newName = graph.freshName("\(input)#\(layout.rawValue)")
    graph.values[newName] = Value(
        name: newName, type: TensorType(t.dtype, inverse.map { t.shape[$0] }, quantization: t.quantization))
    graph.inputs = [newName]
    graph.nodes.insert(
        Node(name: "\(input)#layout", op: .transpose(perm: perm), inputs: [newName], outputs: [input]), at: 0)
    try graph.validate()
}

/// The generated class compiled together with a harness `main.swift` (the benchmark, evaluate).
struct Harness {
    let directory: String
    let name: String
    let weights: CodegenOptions.Weights
    let work: URL

    /// Swift that creates the model: `Name()`, or `Name(weights:)` from the weights file.
    var makeModel: String {
        weights == .embedded
            ? "\(name)()!"
            : "\(name)(weights: [UInt8](try! Data(contentsOf: URL(fileURLWithPath: "
                + "\"\(directory)/\(name).weights\"))))!"
    }

    /// Compiles `main` with the generated sources into `work/binary`: (path, status, compiler output).
    func compile(main: String, flags: [String], binary: String) throws -> (path: String, status: Int32, output: String)
    {
        let mainDir = work.appendingPathComponent("\(binary)-main")  // top-level code must be in main.swift
        try FileManager.default.createDirectory(at: mainDir, withIntermediateDirectories: true)
        try Data(main.utf8).write(to: mainDir.appendingPathComponent("main.swift"))
        var sources = [directory + "/\(name).swift", mainDir.appendingPathComponent("main.swift").path]
        if weights == .embedded { sources.append(directory + "/\(name)+Weights.swift") }
        let path = work.appendingPathComponent(binary).path
        // swiftc's own temporary files go into the work directory, so that it is all there is to remove.
        let r = try Subprocess.run(["swiftc"] + flags + sources + ["-o", path], environment: ["TMPDIR": work.path])
        return (path, r.status, r.output)
    }

    /// The error for generated code that does not compile (its first compiler line).
    func compileError(_ output: String, status: Int32) -> FerccError {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let reason = lines.first { $0.contains("error:") } ?? lines.first ?? "swiftc exited with status \(status)"
        return FerccError(file: directory, "the generated code does not compile: \(reason)")
    }
}

/// Compiles the generated code with a timing harness and runs it.
enum Benchmark {
    /// The pointer form of the generated `predict`: argument labels and float counts.
    struct Call {
        var inputs: [(label: String, count: Int)]
        var outputs: [(label: String, count: Int)]
        init(_ code: GeneratedCode) {
            inputs = code.inputArguments
            outputs = code.outputArguments
        }
        /// `model.predict(...)` on the harness's `inputs` and `outputs` pointer arrays.
        var expression: String {
            let args =
                inputs.indices.map { inputs[$0].label == "_" ? "inputs[\($0)]" : "\(inputs[$0].label): inputs[\($0)]" }
                + outputs.indices.map { "\(outputs[$0].label): outputs[\($0)]" }
            return "model.predict(\(args.joined(separator: ", ")))"
        }
    }

    static func run(
        files: [(name: String, data: Data)], options: CodegenOptions, call: Call, macs: Int, layers: [LayerReport]
    ) throws -> ConvertCommand.Report.Latency {
        try WorkDirectory.with("fercc-bench") { work in
            let sources = work.appendingPathComponent("generated")
            try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
            for f in files { try f.data.write(to: sources.appendingPathComponent(f.name)) }
            return try measure(
                Harness(directory: sources.path, name: options.name, weights: options.weights, work: work),
                options: options, call: call, macs: macs, layers: layers)
        }
    }

    static func measure(_ h: Harness, options: CodegenOptions, call: Call, macs: Int, layers: [LayerReport]) throws
        -> ConvertCommand.Report.Latency
    {
        let fm = FileManager.default
        // Every input filled with the same pseudo-random values in [-1, 1); every output its own buffer.
        let harness = """
            import Foundation
            let model = \(h.makeModel)
            var state: UInt64 = 12345
            let inputs: [UnsafeMutablePointer<Float>] = \(call.inputs.map(\.count)).map { count in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                for i in 0..<count {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    p[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
                }
                return p
            }
            let outputs = \(call.outputs.map(\.count)).map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
            for _ in 0..<5 { \(call.expression) }
            var times: [Double] = []
            let budget = ContinuousClock.now + .seconds(2)
            while times.count < 20 || (ContinuousClock.now < budget && times.count < 2000) {
                let t0 = ContinuousClock.now
                \(call.expression)
                let d = ContinuousClock.now - t0
                times.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
            }
            times.sort()
            print(times.count, times[times.count / 2], times[times.count / 10], times[times.count * 9 / 10])
            #if FERCC_PROFILE
            model.profile.reset()
            for _ in 0..<20 { \(call.expression) }
            print("layers", model.profile.seconds.map { String($0 / 20 * 1000) }.joined(separator: " "))
            #endif
            """
        // The build users make: -O (not -Ounchecked), whole-module, the flags the header states.
        let flags = ["-O", "-wmo"] + options.target.swiftcFlags
        let t0 = Date()
        let compile = try h.compile(main: harness, flags: flags, binary: "bench")
        let compileSeconds = Date().timeIntervalSince(t0)
        guard compile.status == 0 else { throw h.compileError(compile.output, status: compile.status) }
        let binary = compile.path
        let r = try Subprocess.run([binary])
        let fields = r.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        guard r.status == 0, fields.count == 4 else {
            throw FerccError(file: h.directory, "the benchmark failed: \(r.output.prefix(200))")
        }
        let size = (try? fm.attributesOfItem(atPath: binary)[.size] as? Int) ?? 0
        // Per-layer breakdown from an instrumented build.
        var layerTimes: [ConvertCommand.Report.LayerTime]?
        let profiled = try h.compile(main: harness, flags: flags + ["-D", "FERCC_PROFILE"], binary: "bench-profile")
        if profiled.status == 0 {
            let pr = try Subprocess.run([profiled.path])
            if let line = pr.output.split(separator: "\n").first(where: { $0.hasPrefix("layers") }) {
                let ms = line.split(separator: " ").dropFirst().compactMap { Double($0) }
                layerTimes = zip(layers, ms).map { .init(index: $0.index, name: $0.name, op: $0.op, ms: $1) }
            }
        }
        return .init(
            layers: layerTimes, runs: Int(fields[0]), median_ms: fields[1], p10_ms: fields[2], p90_ms: fields[3],
            gflops: fields[1] > 0 ? Double(2 * macs) / (fields[1] * 1e6) : 0,
            compile_seconds: compileSeconds, binary_bytes: size, swiftc_flags: flags)
    }
}
