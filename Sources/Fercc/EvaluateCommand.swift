import FerccCodegen
import FerccIR
import FerccLowering
import FerccQuantize
import FerccRuntime
import FerccTFLite
import Foundation

/// `fercc evaluate`: top-1 accuracy and confusion matrix on labelled data (an ImageFolder or a
/// FER2013 CSV) of the float model (fercc's interpreter) and, with `quantized`, of the int8
/// kernel that `fercc quantize` generated (compiled and run on the same inputs).
public enum EvaluateCommand {
    public struct Result: Codable {
        public struct Model: Codable {
            public var name: String
            public var top1_accuracy: Double
            /// confusion[true class][predicted class]
            public var confusion: [[Int]]
        }
        public var labels: [String]
        public var samples: Int
        public var models: [Model]
        /// Share of samples where the int8 kernel predicts the float model's class.
        public var agreement: Double?
    }

    public static func run(
        model: String, data: String, labels: [String]?, quantized: String?,
        preprocessing: CalibrationData.Preprocessing, limit: Int?, loading: ModelLoader.Options = .init()
    ) throws -> Result {
        let graph = try ModelLoader.load(path: model, options: loading)
        guard graph.inputs.count == 1, graph.outputs.count == 1 else {
            throw FerccError(file: model, "evaluate handles one input and one output")
        }
        let inType = graph.values[graph.inputs[0]]!.type, outCount = graph.values[graph.outputs[0]]!.type.count
        guard inType.dtype == .float32 else {
            throw FerccError(file: model, "evaluate takes the float model (and the int8 kernel with --quantized)")
        }
        let names = labels ?? (outCount == 7 ? FER2013.labels : nil)
        guard let names, names.count == outCount else {
            throw FerccError(
                file: model, "the model has \(outCount) outputs: give --labels with \(outCount) class names")
        }
        // A directory from another model fails here, before any sample is read or code compiled.
        let generated = try quantized.map { try generatedReport(directory: $0, model: model) }
        let samples = try CalibrationData.load(
            data, geometry: CalibrationData.InputGeometry(inType, sourceFormat: graph.source.format),
            preprocessing: preprocessing, limit: limit)
        var truth: [Int] = []
        for s in samples {
            guard let l = s.label else {
                throw FerccError(file: s.source, "has no label (use one folder per class, or a FER2013 CSV)")
            }
            guard let i = names.firstIndex(of: l) else {
                throw FerccError(
                    file: s.source, "class '\(l)' is not one of the labels \(names.joined(separator: ","))")
            }
            truth.append(i)
        }
        let interpreter = try Interpreter(graph: graph)
        var floatPredictions: [Int] = []
        for s in samples {
            guard let out = try interpreter.run([graph.inputs[0]: s.data])[graph.outputs[0]] else {
                throw FerccError(file: model, "no output")
            }
            floatPredictions.append(argmax(out))
        }
        var models = [
            summary("fp32 (\(URL(fileURLWithPath: model).lastPathComponent))", floatPredictions, truth, names.count)
        ]
        var agreement: Double?
        if let quantized, let report = generated {
            let q = try runGenerated(
                directory: quantized, report: report, samples: samples.map(\.data), outputs: outCount)
            models.append(summary("\(report.precision ?? "generated") (\(quantized))", q, truth, names.count))
            agreement = Double(zip(q, floatPredictions).filter { $0 == $1 }.count) / Double(max(samples.count, 1))
        }
        return Result(labels: names, samples: samples.count, models: models, agreement: agreement)
    }

    static func summary(_ name: String, _ predicted: [Int], _ truth: [Int], _ classes: Int) -> Result.Model {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (p, t) in zip(predicted, truth) { confusion[t][p] += 1 }
        let correct = zip(predicted, truth).filter { $0 == $1 }.count
        return .init(name: name, top1_accuracy: Double(correct) / Double(max(truth.count, 1)), confusion: confusion)
    }

    /// The report.json of a directory written by `fercc quantize` or `convert`, checked to come
    /// from `model` (the same file contents).
    static func generatedReport(directory: String, model: String) throws -> ConvertCommand.Report {
        guard let data = readFileContents(directory + "/report.json") else {
            throw FerccError(file: directory, "no report.json: not a directory written by fercc quantize or convert")
        }
        let report: ConvertCommand.Report
        do {
            report = try JSONDecoder().decode(ConvertCommand.Report.self, from: data)
        } catch {
            throw FerccError(file: directory + "/report.json", "not a report written by this version of fercc")
        }
        guard let digest = report.model_sha256 else {
            throw FerccError(
                file: directory, "report.json does not say which model it was made from (regenerate it with this fercc)"
            )
        }
        guard digest == modelDigest(model) else {
            throw FerccError(file: directory, "was generated from another model (\(report.model)), not from \(model)")
        }
        return report
    }

    /// Compiles the generated code in `directory` with a harness that reads every sample from a
    /// file, and returns the predicted classes.
    static func runGenerated(directory: String, report: ConvertCommand.Report, samples: [[Float]], outputs: Int) throws
        -> [Int]
    {
        let name = report.name
        return try WorkDirectory.with("fercc-evaluate") { work in
            let inputs = work.appendingPathComponent("inputs.f32")
            var bytes = Data()
            for s in samples { s.withUnsafeBytes { bytes.append(contentsOf: $0) } }
            try bytes.write(to: inputs)
            let h = Harness(
                directory: directory, name: name,
                weights: CodegenOptions.Weights(rawValue: report.weights) ?? .embedded, work: work)
            let harness = """
                import Foundation
                let model = \(h.makeModel)
                let bytes = try! Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1]))
                let data = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                let n = \(name).inputShape.reduce(1, *)
                var i = 0
                while i + n <= data.count {
                    let y = model.predict(Array(data[i..<(i + n)]))
                    var best = 0
                    for k in y.indices where y[k] > y[best] { best = k }
                    print(best)
                    i += n
                }
                """
            let target = Target(rawValue: report.target)
            let compile = try h.compile(
                main: harness, flags: ["-O", "-wmo"] + (target?.swiftcFlags ?? []), binary: "evaluate")
            guard compile.status == 0 else { throw h.compileError(compile.output, status: compile.status) }
            let r = try Subprocess.run([compile.path, inputs.path])
            let predictions = r.output.split(separator: "\n").compactMap { Int($0) }
            guard r.status == 0, predictions.count == samples.count else {
                throw FerccError(
                    file: directory, "the generated code failed on the evaluation data: \(r.output.prefix(200))")
            }
            guard predictions.allSatisfy({ $0 >= 0 && $0 < outputs }) else {
                throw FerccError(file: directory, "the generated model has another number of outputs")
            }
            return predictions
        }
    }

    public static func text(_ r: Result) -> String {
        var lines = ["evaluated on \(r.samples) labelled samples; classes: \(r.labels.joined(separator: ", "))"]
        for m in r.models {
            lines.append(String(format: "%@: top-1 accuracy %.2f%%", m.name, m.top1_accuracy * 100))
            let width = max(r.labels.map(\.count).max() ?? 0, 5)
            lines.append("  confusion (rows: true class, columns: predicted)")
            lines.append(
                "  " + "".padding(toLength: width, withPad: " ", startingAt: 0) + " "
                    + r.labels.map { String($0.prefix(5)).leftPadded(6) }.joined())
            for (i, row) in m.confusion.enumerated() {
                lines.append(
                    "  " + r.labels[i].padding(toLength: width, withPad: " ", startingAt: 0) + " "
                        + row.map { String($0).leftPadded(6) }.joined())
            }
        }
        if let a = r.agreement {
            lines.append(String(format: "int8 agrees with fp32 on %.2f%% of the samples", a * 100))
        }
        return lines.joined(separator: "\n")
    }
}
