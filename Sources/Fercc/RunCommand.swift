import FerccIR
import FerccPasses
import FerccRuntime
import FerccTFLite
import Foundation

/// `fercc run`: binds `.npy` files to graph inputs, runs the interpreter, writes outputs.
public enum RunCommand {
    /// A `--input`/`--output` argument: `path` alone, or `name=path`.
    public struct Binding: Equatable {
        public var name: String?
        public var path: String

        public init(_ argument: String) {
            if let eq = argument.firstIndex(of: "="), !argument[..<eq].isEmpty, !argument[..<eq].contains("/") {
                name = String(argument[..<eq])
                path = String(argument[argument.index(after: eq)...])
            } else {
                name = nil
                path = argument
            }
        }
    }

    /// Pairs bindings with graph value names: unnamed ones need exactly one candidate.
    static func assign(_ bindings: [Binding], to names: [String], kind: String, model: String) throws -> [(
        String, String
    )] {
        var result: [(String, String)] = []
        for b in bindings {
            if let n = b.name {
                guard names.contains(n) else {
                    throw FerccError(
                        file: model,
                        "'\(n)' is not an \(kind) of the model (\(kind)s: \(names.joined(separator: ", ")))")
                }
                result.append((n, b.path))
            } else {
                guard names.count == 1, bindings.count == 1 else {
                    throw FerccError(
                        file: model,
                        "the model has \(kind)s \(names.joined(separator: ", ")): name each as --\(kind) NAME=PATH")
                }
                result.append((names[0], b.path))
            }
        }
        return result
    }

    /// Runs the model; returns the outputs by name (written to files where bindings say so).
    /// Quantized inputs take float arrays, quantized with the input's scale and zero point, and
    /// quantized outputs are dequantized; with `raw` both sides exchange the integers themselves.
    public static func run(
        model: String, inputs: [Binding], outputs: [Binding], raw: Bool = false,
        dumpDirectory: String? = nil, pipeline: [String] = PassManager.defaultPipeline,
        loading: ModelLoader.Options = .init()
    ) throws -> [(name: String, array: NPY.Array)] {
        let (graph, _) = try ModelLoader.load(path: model, pipeline: pipeline, options: loading)
        let inputFiles = try assign(inputs, to: graph.inputs, kind: "input", model: model)
        let outputFiles = try assign(outputs, to: graph.outputs, kind: "output", model: model)
        var feeds: [String: RuntimeTensor] = [:]
        for (name, path) in inputFiles {
            let a = try NPY.read(path: path)
            let type = graph.values[name]!.type
            guard a.shape == type.shape else {
                throw FerccError(file: path, "input '\(name)' must have shape \(type.shape), the file has \(a.shape)")
            }
            switch (a.tensor, type.dtype) {
            case (.float(let v), .float32):
                feeds[name] = .float(v)
            case (.float(let v), .int8), (.float(let v), .uint8):
                guard !raw else {
                    throw FerccError(
                        file: path,
                        "--raw: input '\(name)' must hold \(type.dtype.rawValue) values, the file holds float32")
                }
                feeds[name] = RuntimeTensor.quantize(v, type.quantization!, as: type.dtype, rounding: .toNearestOrEven)
            case (.int8, .int8), (.uint8, .uint8):
                feeds[name] = a.tensor
            default:
                throw FerccError(
                    file: path, "input '\(name)' is \(type.dtype.rawValue), the file holds \(a.tensor.dtype.rawValue)")
            }
        }
        let missing = graph.inputs.filter { feeds[$0] == nil }
        guard missing.isEmpty else {
            throw FerccError(file: model, "no data for input \(missing.joined(separator: ", ")): give --input")
        }
        let results: [String: RuntimeTensor]
        do {
            results = try Interpreter(graph: graph).run(tensors: feeds, keepingAll: dumpDirectory != nil)
        } catch let e as FerccError {
            throw e.inFile(model)
        }
        if let dir = dumpDirectory {
            // One .npy per computed value, raw (integers stay integers), named after the value.
            let directory = try OutputDirectory(dir)
            var files: [(name: String, data: Data)] = []
            var index: [String] = []
            for node in graph.nodes {
                for name in node.outputs {
                    guard let t = results[name] else { continue }
                    let base = String(
                        name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" })
                    var file = base + ".npy"
                    var n = 1
                    // names that sanitize alike
                    while files.contains(where: { $0.name == file }) || file == "index.tsv" {
                        n += 1
                        file = "\(base)-\(n).npy"
                    }
                    files.append((file, Data(NPY.encode(NPY.Array(shape: graph.values[name]!.type.shape, tensor: t)))))
                    index.append("\(name)\t\(file)")
                }
            }
            files.append(("index.tsv", Data((index.joined(separator: "\n") + "\n").utf8)))
            try directory.write(files)
        }
        let arrays = graph.outputs.map { name -> (name: String, array: NPY.Array) in
            let t = graph.values[name]!.type
            let r = results[name]!
            let out: RuntimeTensor = raw || t.quantization == nil ? r : .float(r.dequantized(t.quantization))
            return (name: name, array: NPY.Array(shape: t.shape, tensor: out))
        }
        for (name, path) in outputFiles {
            try NPY.write(arrays.first { $0.name == name }!.array, to: path)
        }
        return arrays
    }
}
