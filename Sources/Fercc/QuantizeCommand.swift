import FerccCodegen
import FerccIR
import FerccPasses
import FerccQuantize
import FerccRuntime
import FerccTFLite
import Foundation

/// `fercc quantize`: calibrate a float model on sample inputs, quantize it to int8 (mixed
/// precision where asked), measure int8 against float on held-out samples, then do what
/// `fercc convert` does with the int8 graph (Swift code, size and latency reports).
public enum QuantizeCommand {
    public struct Options {
        public var quantize = QuantizeOptions()
        public var preprocessing = CalibrationData.Preprocessing()
        public var limit: Int?
        public var holdout: Double = 0.2
        /// Layers whose SQNR on the held-out samples is below this stay float.
        public var fallbackSQNR: Double?
        public var biasCorrection = true
        /// Cross-layer equalization of the values between convolutions (per-channel weights only;
        /// off by default until measured on the corpus models, docs/benchmarks.md).
        public var equalize = false
        /// How weights are rounded to their int8 levels (docs/benchmarks.md measures each).
        public var weightRounding = WeightRounding.nearest
        public var progress = false
        /// How the float model is read (dynamic-range arithmetic, memory limit).
        public var loading = ModelLoader.Options()
        /// The layout the generated API takes its 4-D input in (calibration data stays in the model's own).
        public var inputLayout = ConvertCommand.InputLayout.source
        /// Whether the generated class gets `predict(pixels:...)` with the calibration images'
        /// preprocessing; nil: when the calibration data are images (or a FER2013 CSV).
        public var pixels: Bool?
        public init() {}
    }

    public struct Result {
        public var report: ConvertCommand.Report
        public var accuracy: AccuracyReport
        /// The int8 (mixed-precision) graph the code was generated from.
        public var graph: Graph
    }

    /// The passes before quantization: the default pipeline without the fused convolution ops
    /// (calibration and the per-layer report need the intermediates; the int8 graph is fused
    /// before code generation).
    static let fusions = [
        "fuse-depthwise-pointwise", "fuse-expand-depthwise-pointwise", "fuse-residual-add",
        "fuse-concat-shuffle"
    ]
    public static var pipeline: [String] { PassManager.defaultPipeline.filter { !fusions.contains($0) } }

    public static func run(
        model: String, calibration: String, outputDirectory: String, codegen: CodegenOptions, bench: Bool,
        options: Options
    ) throws -> Result {
        try ConvertCommand.checkName(codegen)
        var (graph, passes) = try ModelLoader.load(path: model, pipeline: pipeline, options: options.loading)
        guard graph.inputs.count == 1 else {
            throw FerccError(
                file: model, "quantize handles models with one input (this one has \(graph.inputs.count))")
        }
        let inType = graph.values[graph.inputs[0]]!.type
        guard inType.dtype == .float32 else {
            throw FerccError(file: model, "the model is already quantized (input \(inType)); use fercc convert")
        }
        let geometry = CalibrationData.InputGeometry(inType, sourceFormat: graph.source.format)
        let bar = ProgressBar(enabled: options.progress, label: "loading")
        let samples = try CalibrationData.load(
            calibration, geometry: geometry, preprocessing: options.preprocessing, limit: options.limit,
            progress: bar.update)
        bar.finish()
        guard options.holdout >= 0, options.holdout < 1 else { throw FerccError("--holdout must be in [0, 1)") }
        let held = min(Int((Double(samples.count) * options.holdout).rounded()), samples.count - 1)
        let calib = Array(samples[..<(samples.count - held)]).map(\.data)
        let holdout = held > 0 ? Array(samples[(samples.count - held)...]).map(\.data) : calib
        let evaluatedOn = held > 0 ? "held-out" : "calibration"
        // Equalized before calibration: the float graph every later step (ranges, bias correction,
        // the accuracy report) works on computes what the model did.
        var equalized: [ChannelEqualization.Pair]?  // nil: not run
        if options.equalize, !options.quantize.perTensor {
            do {
                equalized = try ChannelEqualization.apply(&graph, samples: calib)
            } catch let e as FerccError {
                throw e.inFile(model)
            }
        }

        let calBar = ProgressBar(
            enabled: options.progress, label: "calibrating",
            total: calib.count * (options.quantize.method == .minmax ? 1 : 2))
        let stats: [String: ActivationStatistics]
        do {
            stats = try Calibrator.collect(
                graph, samples: calib, method: options.quantize.method, progress: calBar.update)
        } catch let e as FerccError {
            throw e.inFile(model)
        }
        calBar.finish()
        let ranges = stats.mapValues { $0.range(options.quantize.method, percentile: options.quantize.percentile) }
        var qopts = options.quantize
        qopts.exclude = try excludedNodes(qopts.exclude, in: graph, model: model)
        var roundingText = options.weightRounding.rawValue
        if options.weightRounding == .gptq {
            var skip = qopts.exclude
            if qopts.floatOutputLayer { skip.formUnion(Quantizer.outputLayers(graph)) }
            let rounding: ErrorCompensatedRounding.Result
            let bar = ProgressBar(
                enabled: options.progress, label: "rounding weights (samples, then layers)", unit: "steps")
            do {
                rounding = try ErrorCompensatedRounding.round(
                    graph, samples: calib, perTensor: qopts.perTensor, clipping: qopts.weightClipping, skip: skip,
                    progress: bar.update)
            } catch let e as FerccError {
                throw e.inFile(model)
            }
            bar.finish()
            qopts.roundedWeights = rounding.weights
            let n = rounding.weights.count
            roundingText = "gptq (\(n) layer\(n == 1 ? "" : "s")"
            if !rounding.nearest.isEmpty {
                roundingText +=
                    "; nearest for " + rounding.nearest.map { "\($0.node): \($0.reason)" }.joined(separator: ", ")
            }
            roundingText += ")"
        }
        let equalizationText = equalized.map { "\($0.count) pair\($0.count == 1 ? "" : "s")" } ?? "off"
        /// Quantizes with `qopts`; with bias correction, keeps the corrected graph only if it lowers
        /// the mean error on the evaluation samples (it can raise it where clamped activations hide the shift).
        func build() throws -> (Graph, AccuracyReport) {
            let (plain, floatNodes) = try quantized(graph, ranges, qopts, model: model)
            var report = try AccuracyReport.measure(
                float: graph, int8: plain, floatNodes: floatNodes, samples: holdout, evaluatedOn: evaluatedOn,
                method: qopts.method.rawValue, perChannel: !qopts.perTensor)
            report.equalization = equalizationText
            report.weight_rounding = roundingText
            report.weight_clipping = qopts.weightClipping.rawValue
            guard options.biasCorrection else { return (plain, report) }
            let corrected = BiasCorrection.apply(float: graph, int8: plain, statistics: stats)
            var c = try AccuracyReport.measure(
                float: graph, int8: corrected, floatNodes: floatNodes, samples: holdout, evaluatedOn: evaluatedOn,
                method: qopts.method.rawValue, perChannel: !qopts.perTensor)
            c.equalization = equalizationText
            c.weight_rounding = roundingText
            c.weight_clipping = qopts.weightClipping.rawValue
            c.bias_correction = "applied (mean |error| \(String(format: "%.4g", report.mean_abs_error)) without)"
            report.bias_correction = "not applied (mean |error| \(String(format: "%.4g", c.mean_abs_error)) with it)"
            return c.mean_abs_error <= report.mean_abs_error ? (corrected, c) : (plain, report)
        }
        var (qgraph, accuracy) = try build()
        if let threshold = options.fallbackSQNR {
            let weak = Set(accuracy.layers.filter { $0.sqnr_db < threshold }.map(\.node))
            if !weak.isEmpty {
                qopts.exclude.formUnion(weak)
                (qgraph, accuracy) = try build()
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let extra: [String: Data] = [
            "accuracy.json": try encoder.encode(accuracy),
            "accuracy.txt": Data((accuracy.text(worst: accuracy.layers.count) + "\n").utf8),
            "accuracy.html": Data(ReportRenderer.accuracyHTML(accuracy, model: model).utf8)
        ]
        // Measured per layer above; the int8 depthwise+pointwise pairs (and any fp32 layers left by
        // --exclude or --fallback-sqnr) are fused for the generated code only (same integers: the
        // fused kernel computes exactly what the two did).
        var emitted = qgraph
        var layout: [PassResult] = []
        if options.inputLayout != .source {
            try changeInputLayout(&emitted, to: options.inputLayout, model: model)
            layout = try PassManager.run(&emitted, pipeline: ["to-nhwc", "eliminate-dead-code"])
        }
        let fusion = try PassManager.run(&emitted, pipeline: fusions)
        var codegen = codegen
        if try options.pixels ?? CalibrationData.isImageData(calibration) {
            // What was calibrated is what is deployed: the same preprocessing, run by the same kernel.
            codegen.imageInput = try imageInput(
                emitted, layout: options.inputLayout, preprocessing: options.preprocessing, model: model)
        }
        codegen.maxMemory = options.loading.maxMemory
        let report = try ConvertCommand.emit(
            emitted, passes: passes + layout + fusion, model: model, outputDirectory: outputDirectory, options: codegen,
            bench: bench, extraFiles: extra)
        return Result(report: report, accuracy: accuracy, graph: qgraph)
    }

    /// The nodes `--exclude` names, in the graph quantize works on (before the fusions). A fused
    /// node's name from `fercc inspect --optimized` ("dw+pw", "expand+dw+pw") names its parts.
    static func excludedNodes(_ names: Set<String>, in graph: Graph, model: String) throws -> Set<String> {
        let known = Set(graph.nodes.map(\.name))
        var result: Set<String> = []
        for name in names {
            guard let parts = splitFusedName(name, known: known) else {
                throw FerccError(
                    file: model, "--exclude: no node named '\(name)' (fercc inspect --optimized lists them)")
            }
            result.formUnion(parts)
        }
        return result
    }

    /// `name` as one or more known node names joined by "+" (names may hold "+" themselves).
    static func splitFusedName(_ name: String, known: Set<String>) -> [String]? {
        if known.contains(name) { return [name] }
        var start = name.startIndex
        while let plus = name[start...].firstIndex(of: "+") {
            let head = String(name[..<plus])
            if known.contains(head), let rest = splitFusedName(String(name[name.index(after: plus)...]), known: known) {
                return [head] + rest
            }
            start = name.index(after: plus)
        }
        return nil
    }

    static func quantized(
        _ graph: Graph, _ ranges: [String: (lo: Float, hi: Float)], _ options: QuantizeOptions, model: String
    ) throws -> (Graph, [String]) {
        do {
            var (q, floatNodes) = try Quantizer.quantize(graph, ranges: ranges, options: options)
            // Element moves around the boundaries can now cancel (quantize after dequantize is left as is).
            q.removeDeadCode()
            return (q, floatNodes)
        } catch let e as FerccError {
            throw e.inFile(model)
        }
    }
}

/// A one-line progress bar with a rate, on standard error, only when it is a terminal.
final class ProgressBar {
    let enabled: Bool
    let label: String
    let total: Int?
    /// What `update` counts, for the rate ("images/s").
    let unit: String
    let start = Date()

    init(enabled: Bool, label: String, total: Int? = nil, unit: String = "images") {
        self.enabled = enabled && isatty(2) != 0
        self.label = label
        self.total = total
        self.unit = unit
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-6)
        let of = total.map { "/\($0)" } ?? ""
        FileHandle.standardError.write(
            Data("\r\(label) \(done)\(of) (\(String(format: "%.1f", rate)) \(unit)/s)   ".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
