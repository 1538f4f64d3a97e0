import ArgumentParser
import Fercc
import FerccCodegen
import FerccIR
import FerccLowering
import FerccPasses
import FerccQuantize
import FerccTFLite
import Foundation

@main
struct FerccCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fercc",
        abstract: "Converts facial-expression models (ONNX, TFLite) into lean inference code.",
        subcommands: [Convert.self, Quantize.self, Evaluate.self, Inspect.self, Run.self, Ops.self]
    )

    /// Parses and runs like ArgumentParser's own `main()`, but a usage mistake is one
    /// `error:` line with exit status 1 like every other failure (help still prints in full),
    /// and an interruption cleans up what fercc was writing or running.
    static func main() {
        Interrupts.install()
        do {
            var command = try parseAsRoot()
            try command.run()
            Interrupts.beforeExit()
        } catch let e as FerccError {
            fail(e)
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }  // --help, --version
            let message = self.message(for: error).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
            fail(FerccError(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message))
        }
    }
}

/// Comma-separated class names, trimmed; none may be empty.
func parseLabels(_ s: String?) throws -> [String]? {
    guard let s else { return nil }
    let names = s.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
    }
    guard !names.contains(where: \.isEmpty) else { throw FerccError("--labels has an empty class name in '\(s)'") }
    return names
}

/// An option value matched case-insensitively against its choices.
func choice<T: RawRepresentable>(_ value: String, _ option: String, _ choices: [T]) throws -> T
where T.RawValue == String {
    guard let c = choices.first(where: { $0.rawValue.lowercased() == value.lowercased() }) else {
        throw FerccError("\(option) must be one of \(choices.map(\.rawValue).joined(separator: ", ")), not '\(value)'")
    }
    return c
}

/// Prints `error: ...` on one line and exits non-zero: the contract for every failure.
func fail(_ error: Error) -> Never {
    Interrupts.beforeExit()
    let text: String
    if let e = error as? FerccError { text = e.description } else { text = String(describing: error) }
    FileHandle.standardError.write(Data("error: \(text)\n".utf8))
    exit(1)
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every node with its shapes, parameters and MACs, and totals.")

    @Argument(help: "The model file (.onnx or .tflite).") var model: String
    @Flag(help: "Print JSON (an object with 'nodes' and 'summary'; with --optimized also 'passes' and 'before').")
    var json = false
    @Flag(help: "Show the graph after the default pass pipeline, with a before/after summary.") var optimized = false
    @Option(help: "With --optimized: 'default', 'none' or a comma list of passes.") var passes = "default"
    @OptionGroup var hybrid: LoadingOptions

    func run() throws {
        do {
            let report: InspectReport
            let h = try hybrid.make()
            if optimized {
                let before = try ModelLoader.load(path: model, options: h)
                let (graph, results) = try ModelLoader.load(
                    path: model, pipeline: try PassManager.pipeline(passes), options: h)
                report = InspectReport(graph: graph, model: model, passes: results, before: before)
            } else {
                report = InspectReport(graph: try ModelLoader.load(path: model, options: h), model: model)
            }
            print(json ? try report.json() : report.text())
        } catch {
            fail(error)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the model with fercc's interpreter on .npy inputs.")

    @Argument(help: "The model file (.onnx or .tflite).") var model: String
    @Option(
        name: .long,
        help: "Input .npy (float32, the model's own layout and shape): PATH, or NAME=PATH for each of several inputs.")
    var input: [String] = []
    @Option(name: .long, help: "Where to write an output .npy: PATH, or NAME=PATH. Without it, outputs are printed.")
    var output: [String] = []
    @Option(
        help: "Graph passes before running: 'default', 'none' or a comma list (fercc inspect --optimized shows them).")
    var passes = "default"
    @Option(
        help:
            ArgumentHelp(
                "Write every value the model computes into this directory as .npy (with index.tsv), to compare a "
                    + "conversion layer by layer.")
    )
    var dump: String?
    @Flag(help: "Exchange the integer tensors of a quantized model as they are (int8/uint8 .npy) instead of float.")
    var raw = false
    @Option(
        name: .long,
        help:
            ArgumentHelp(
                "Class names, comma-separated (e.g. angry,disgust,fear,happy,sad,surprise,neutral): print outputs with "
                    + "that many scores as a ranking.")
    )
    var labels: String?
    @OptionGroup var hybrid: LoadingOptions

    func run() throws {
        do {
            let results = try RunCommand.run(
                model: model, inputs: input.map(RunCommand.Binding.init),
                outputs: output.map(RunCommand.Binding.init), raw: raw, dumpDirectory: dump,
                pipeline: try PassManager.pipeline(passes), loading: try hybrid.make())
            let names = try parseLabels(labels)
            if let names, !results.contains(where: { $0.array.data.count == names.count }) {
                throw FerccError(
                    file: model, "--labels names \(names.count) classes, but no output has \(names.count) values")
            }
            if output.isEmpty {
                for r in results {
                    if let names, r.array.data.count == names.count {
                        print("\(r.name):")
                        let width = max(names.map(\.count).max()!, 1)
                        for (label, score) in zip(names, r.array.data).sorted(by: { $0.1 > $1.1 }) {
                            let padded = label.padding(toLength: width, withPad: " ", startingAt: 0)
                            print("  \(padded)  \(String(format: "%.4f", score))")
                        }
                        continue
                    }
                    let shown = r.array.data.prefix(32).map { String(format: "%.6g", $0) }.joined(separator: " ")
                    print(
                        "\(r.name) [\(r.array.shape.map(String.init).joined(separator: "x"))]: "
                            + "\(shown)\(r.array.data.count > 32 ? " ..." : "")"
                    )
                }
            }
        } catch {
            fail(error)
        }
    }
}

struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the supported-op table (docs/ops.md is this output).")

    func run() throws {
        print(SupportedOps.markdown())
    }
}

/// `--winograd`'s help, the same for `convert` and `quantize`.
private let winogradHelp = ArgumentHelp(
    "Run float 3x3 stride-1 convolutions of 32 channels or more by Winograd's F(2x2, 3x3), or F(4x4, 3x3) from "
        + "16x16 outputs (ResNet18's: 1.1-1.8x faster per layer), their transformed weights (16/9 or 36/9 of "
        + "theirs) allocated when the model is made.")

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model into a self-contained Swift inference class, with size and latency reports.")

    @Argument(help: "The model file (.onnx or .tflite).") var model: String
    @Option(name: .shortAndLong, help: "Output directory (written atomically).") var output: String
    @Option(help: "Swift type name of the generated class.") var name: String?
    @Option(
        help:
            "embedded (a base64 string literal in Name+Weights.swift) or file (Name.weights, handed to init(weights:))."
    )
    var weights = "embedded"
    @Option(
        help:
            "host, x86-64-avx2, x86-64-avx512, arm64, arm64-dotprod or portable: the compiler flags the generated code needs."
    )
    var target = "host"
    @Option(help: "Class names, comma-separated, for classify(_:).") var labels: String?
    @Option(help: "Layout of the generated API's 4-D input: source (the model's own), nhwc or nchw.") var inputLayout =
        "source"
    @Flag(
        help: ArgumentHelp(
            "Generate predict(pixels:width:height:bytesPerRow:format:) for 8-bit images, preprocessed with --gray/--rgb, "
                + "--mean and --std."))
    var pixels = false
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var hybrid: LoadingOptions
    @Flag(
        inversion: .prefixedNo,
        help: winogradHelp)
    var winograd = true
    @Flag(help: "Skip compiling and timing the generated code.") var noBench = false

    func run() throws {
        do {
            guard pixels || !preprocessing.given else {
                throw FerccError("--gray, --rgb, --mean and --std describe predict(pixels:...): add --pixels")
            }
            guard preprocessing.usage == nil else { throw FerccError("--usage applies to quantize and evaluate") }
            let w = try choice(weights, "--weights", CodegenOptions.Weights.allCases)
            let t = try choice(target, "--target", Target.allCases)
            let layout = try choice(inputLayout, "--input-layout", ConvertCommand.InputLayout.allCases)
            let base = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
            let typeName = name ?? SwiftNames.typeName(fromFileName: base)
            var options = CodegenOptions(name: typeName, weights: w, target: t, labels: try parseLabels(labels))
            options.winograd = winograd
            let report = try ConvertCommand.convert(
                model: model, outputDirectory: output, options: options, bench: !noBench, inputLayout: layout,
                pixels: pixels ? try preprocessing.make() : nil, loading: try hybrid.make())
            print(ReportRenderer.text(report))
            let weightsFile = w == .embedded ? "\(typeName)+Weights.swift" : "\(typeName).weights"
            print("wrote \(output)/\(typeName).swift, \(weightsFile), report.json, report.html")
        } catch {
            fail(error)
        }
    }

}

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Calibrate a float model, quantize it to int8 and compile it like convert, with an accuracy report.")

    @Argument(help: "The float model (.onnx or .tflite).") var model: String
    @Option(
        help:
            ArgumentHelp(
                "Calibration data: a directory (recursive) or glob of PNG/JPEG/PGM/PPM images, preprocessed .npy "
                    + "tensors, or a FER2013 .csv.")
    )
    var calib: String
    @Option(name: .shortAndLong, help: "Output directory (written atomically).") var output: String
    @Option(help: "Swift type name of the generated class.") var name: String?
    @Option(help: "Activation ranges: minmax, percentile, entropy or mse.") var method = "minmax"
    @Option(help: "With --method percentile: the percentile kept (50-100; default 99.99).") var percentile: Double?
    @Flag(help: "One weight scale per tensor instead of per output channel.") var perTensor = false
    @Flag(
        inversion: .prefixedNo,
        help:
            ArgumentHelp(
                "Correct each layer's bias for the mean shift its rounded weights cause, from the calibration data's "
                    + "means (on by default).")
    )
    var biasCorrection = true
    @Flag(
        inversion: .prefixedNo,
        help:
            ArgumentHelp(
                "Equalize the channels of each value between two convolutions before calibrating (cross-layer "
                    + "equalization with measured ranges; per-channel weights only).")
    )
    var equalize = false
    @Option(
        help: ArgumentHelp(
            "Weight rounding: nearest, or gptq (each layer's rounding errors compensated by its other weights, "
                + "from the calibration inputs)."))
    var weightRounding = "nearest"
    @Option(
        help: ArgumentHelp(
            "Weight scales: none (each output channel's largest weight) or mse (the clipping of it with the "
                + "smallest squared rounding error over the channel)."))
    var weightClipping = "none"
    @Option(
        help: ArgumentHelp(
            "int8 arithmetic: fercc (adds, subtracts, convolutions and fully connected layers requantized in "
                + "float32, faster) or tflite (TFLite's "
                + "reference kernels bit for bit)."))
    var int8Arithmetic = "fercc"
    @Option(help: "Nodes kept in float32, comma-separated (names as fercc inspect --optimized prints them).")
    var exclude: String?
    @Option(help: "Keep in float32 every layer whose SQNR on the held-out samples is below this many dB.")
    var fallbackSqnr: Double?
    @Option(help: "Use at most this many samples.") var limit: Int?
    @Option(help: "Fraction of the samples held out from calibration to measure accuracy on.") var holdout = 0.2
    @OptionGroup var preprocessing: PreprocessingOptions
    @Option(help: "embedded or file (see convert).") var weights = "embedded"
    @Option(help: "host, x86-64-avx2, x86-64-avx512, arm64, arm64-dotprod or portable.") var target = "host"
    @Option(help: "Class names, comma-separated, for classify(_:).") var labels: String?
    @Option(help: "Layout of the generated API's 4-D input: source (the model's own), nhwc or nchw.") var inputLayout =
        "source"
    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Generate predict(pixels:...) with the calibration images' preprocessing (default: when --calib holds "
                + "images or a FER2013 CSV)."))
    var pixels: Bool?
    @OptionGroup var hybrid: LoadingOptions
    @Flag(
        inversion: .prefixedNo,
        help: winogradHelp)
    var winograd = true
    @Flag(help: "Skip compiling and timing the generated code.") var noBench = false

    func run() throws {
        do {
            let m = try choice(method, "--method", CalibrationMethod.allCases)
            let w = try choice(weights, "--weights", CodegenOptions.Weights.allCases)
            let t = try choice(target, "--target", Target.allCases)
            let layout = try choice(inputLayout, "--input-layout", ConvertCommand.InputLayout.allCases)
            if let percentile {
                guard m == .percentile else { throw FerccError("--percentile applies only with --method percentile") }
                guard percentile.isFinite, (50...100).contains(percentile) else {
                    throw FerccError("--percentile must be a number from 50 to 100, not \(percentile)")
                }
            }
            var options = QuantizeCommand.Options()
            options.quantize.method = m
            if let percentile { options.quantize.percentile = percentile }
            options.inputLayout = layout
            options.pixels = pixels
            options.loading = try hybrid.make()
            options.quantize.perTensor = perTensor
            options.quantize.exclude = Set(
                (exclude ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                })
            options.biasCorrection = biasCorrection
            options.equalize = equalize
            options.weightRounding = try choice(weightRounding, "--weight-rounding", WeightRounding.allCases)
            options.quantize.weightClipping = try choice(weightClipping, "--weight-clipping", WeightClipping.allCases)
            options.quantize.arithmetic = try choice(int8Arithmetic, "--int8-arithmetic", Int8Arithmetic.allCases)
            options.fallbackSQNR = fallbackSqnr
            options.limit = limit
            options.holdout = holdout
            options.progress = true
            options.preprocessing = try preprocessing.make()
            if let limit, limit < 1 { throw FerccError("--limit must be at least 1") }
            let base = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
            let typeName = name ?? SwiftNames.typeName(fromFileName: base + "_int8")
            var codegen = CodegenOptions(name: typeName, weights: w, target: t, labels: try parseLabels(labels))
            codegen.winograd = winograd
            let result = try QuantizeCommand.run(
                model: model, calibration: calib, outputDirectory: output, codegen: codegen,
                bench: !noBench, options: options)
            print(ReportRenderer.text(result.report))
            print(result.accuracy.text())
            let weightsFile = w == .embedded ? "\(typeName)+Weights.swift" : "\(typeName).weights"
            print("wrote \(output)/\(typeName).swift, \(weightsFile), report.json, report.html, accuracy.json/txt/html")
        } catch {
            fail(error)
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Top-1 accuracy and confusion matrix on labelled data, of the float model and of an int8 kernel from "
            + "fercc quantize."
    )

    @Argument(help: "The float model (.onnx or .tflite).") var model: String
    @Option(help: "Labelled data: an ImageFolder directory (one subfolder per class name) or a FER2013 .csv.") var data:
        String
    @Option(help: "Class names in output order, comma-separated (default for 7 outputs: the FER2013 order).")
    var labels: String?
    @Option(
        help: "An output directory of fercc quantize (or convert): its generated kernel is compiled and evaluated too.")
    var quantized: String?
    @Option(help: "Use at most this many samples.") var limit: Int?
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var hybrid: LoadingOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        do {
            let p = try preprocessing.make()
            let names = try parseLabels(labels)
            let r = try EvaluateCommand.run(
                model: model, data: data, labels: names, quantized: quantized, preprocessing: p, limit: limit,
                loading: try hybrid.make())
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try e.encode(r), as: UTF8.self))
            } else {
                print(EvaluateCommand.text(r))
            }
        } catch {
            fail(error)
        }
    }
}

/// How a model is read: dynamic-range arithmetic (float input, int8 weights) and a memory limit.
struct LoadingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Dynamic-range TFLite ops: litert (as LiteRT's hybrid kernels: the input quantized to int8 on the fly) "
                + "or float (the weights dequantized, all in float)."))
    var hybrid = "litert"
    @Option(
        help: ArgumentHelp(
            "Refuse models whose weights and activations need more than this many bytes (suffix K, M or G; "
                + "default 4G)."))
    var maxMemory = "4G"

    func make() throws -> ModelLoader.Options {
        var o = ModelLoader.Options()
        o.hybrid = try choice(hybrid, "--hybrid", TFLiteImporter.HybridArithmetic.allCases)
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let text = maxMemory.uppercased()
        let unit = text.last.flatMap { units[$0] } ?? 1
        let digits = units[text.last ?? " "] == nil ? text : String(text.dropLast())
        guard let n = Int(digits), n > 0, !n.multipliedReportingOverflow(by: unit).overflow else {
            throw FerccError(
                "--max-memory must be a positive number of bytes with an optional K, M or G, not '\(maxMemory)'")
        }
        o.maxMemory = n * unit
        return o
    }
}

/// How images become model inputs, for quantize and evaluate.
struct PreprocessingOptions: ParsableArguments {
    @Flag(help: "Images to one gray channel (ITU-R 601 luma).") var gray = false
    @Flag(help: "Images to RGB.") var rgb = false
    @Option(help: "Subtracted after scaling pixels to [0, 1]: one value or one per channel, comma-separated.") var mean:
        String?
    @Option(help: "Divided by after the mean: one value or one per channel.") var std: String?
    @Option(help: "FER2013 CSV rows whose Usage column equals this (Training, PublicTest, PrivateTest).") var usage:
        String?

    /// Whether any of --gray, --rgb, --mean, --std was given.
    var given: Bool { gray || rgb || mean != nil || std != nil }

    func make() throws -> CalibrationData.Preprocessing {
        guard !(gray && rgb) else { throw FerccError("--gray and --rgb exclude each other") }
        func floats(_ s: String?, _ flag: String) throws -> [Float]? {
            guard let s else { return nil }
            let v = s.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else {
                throw FerccError("\(flag) takes numbers separated by commas, not '\(s)'")
            }
            return v.map { $0! }
        }
        var p = CalibrationData.Preprocessing()
        p.color = gray ? .gray : (rgb ? .rgb : .auto)
        p.mean = try floats(mean, "--mean") ?? [0]
        p.std = try floats(std, "--std") ?? [1]
        p.usage = usage
        return p
    }
}
