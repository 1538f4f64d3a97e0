import Foundation
import PackagePlugin

/// Compiles the models of a target into Swift classes at build time.
///
/// Every `.onnx` or `.tflite` file of the target needs a `fercc.json` in its own directory with an
/// entry under its file name (docs/user-guide.md, "Add fercc to your app"):
///
///     {
///       "FER.onnx": {
///         "name": "FER", "labels": ["angry", "..."], "target": "portable",
///         "pixels": {"color": "gray", "mean": [0.5], "std": [0.5]},
///         "quantize": {"calibration": "calibration"}
///       }
///     }
///
/// The plugin runs this package's `fercc` (`convert`, or `quantize` when the entry has a
/// `quantize` key) into its work directory; the model, `fercc.json` and the calibration files
/// are the command's inputs, so the class is made again exactly when one of them changes. A
/// model or configuration error fails the build with fercc's one-line message.
@main
struct FerccPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let models = module.sourceFiles.map(\.url).filter { ["onnx", "tflite"].contains($0.pathExtension.lowercased()) }
        guard !models.isEmpty else {
            throw PluginError("target '\(target.name)' has no .onnx or .tflite model for the fercc plugin")
        }
        let fercc = try context.tool(named: "fercc").url
        var names: [String: URL] = [:]
        var commands: [Command] = []
        for model in models.sorted(by: { $0.path < $1.path }) {
            let config = model.deletingLastPathComponent().appending(path: "fercc.json")
            let entry = try ModelEntry(model: model, config: config)
            if let other = names[entry.name] {
                throw PluginError(
                    "\(model.path(percentEncoded: false)): class name '\(entry.name)' is also that of "
                        + other.lastPathComponent + "; give one a \"name\" in fercc.json")
            }
            names[entry.name] = model
            let output = context.pluginWorkDirectoryURL.appending(path: entry.name)
            commands.append(
                .buildCommand(
                    displayName: "fercc: compiling \(model.lastPathComponent) into \(entry.name)",
                    executable: fercc,
                    arguments: entry.arguments(output: output),
                    inputFiles: [model, config] + entry.calibrationFiles,
                    outputFiles: [
                        output.appending(path: "\(entry.name).swift"),
                        output.appending(path: "\(entry.name)+Weights.swift")
                    ]))
        }
        return commands
    }
}

/// One model's entry of `fercc.json`, checked.
struct ModelEntry {
    var model: URL
    var name: String
    var options: [String] = []
    var calibration: URL?
    var calibrationFiles: [URL] = []

    static let keys: Set<String> = ["name", "labels", "target", "layout", "pixels", "quantize"]
    static let pixelKeys: Set<String> = ["color", "mean", "std"]
    static let quantizeKeys: Set<String> = ["calibration", "method", "perTensor", "exclude", "limit"]

    init(model: URL, config: URL) throws {
        self.model = model
        let file = model.lastPathComponent
        let where_ = config.path(percentEncoded: false)
        guard let data = FileManager.default.contents(atPath: where_) else {
            throw PluginError("\(where_): missing; the fercc plugin needs it beside \(file) (see the user guide)")
        }
        let root: [String: Any]
        do {
            guard let r = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw PluginError("\(where_): must be a JSON object with one entry per model file")
            }
            root = r
        } catch let e as PluginError {
            throw e
        } catch {
            throw PluginError("\(where_): not valid JSON (\(error.localizedDescription))")
        }
        let directory = model.deletingLastPathComponent()
        for key in root.keys where !FileManager.default.fileExists(atPath: directory.appending(path: key).path) {
            throw PluginError("\(where_): entry '\(key)' names no file in \(directory.path(percentEncoded: false))")
        }
        guard let entry = root[file] as? [String: Any] else {
            throw PluginError("\(where_): no entry for \(file) (an object under the key \"\(file)\")")
        }
        func fail(_ message: String) -> PluginError { PluginError("\(where_): \(file): \(message)") }
        if let unknown = Set(entry.keys).subtracting(Self.keys).sorted().first {
            throw fail("unknown key '\(unknown)' (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        func string(_ v: Any?, _ key: String) throws -> String? {
            guard let v else { return nil }
            guard let s = v as? String else { throw fail("\"\(key)\" must be a string") }
            return s
        }
        func numbers(_ v: Any?, _ key: String) throws -> [Double]? {
            guard let v else { return nil }
            if let n = v as? NSNumber, !(v is Bool) { return [n.doubleValue] }
            guard let a = v as? [Any], !a.isEmpty else {
                throw fail("\"\(key)\" must be a number or a list of numbers")
            }
            return try a.map {
                guard let n = $0 as? NSNumber, !($0 is Bool) else { throw fail("\"\(key)\" must hold numbers") }
                return n.doubleValue
            }
        }
        let stem = model.deletingPathExtension().lastPathComponent
        name = try string(entry["name"], "name") ?? stem
        options += ["--name", name]
        if let labels = entry["labels"] {
            guard let l = labels as? [String], !l.isEmpty else { throw fail("\"labels\" must be a list of strings") }
            options += ["--labels", l.joined(separator: ",")]
        }
        options += ["--target", try string(entry["target"], "target") ?? "portable"]
        if let layout = try string(entry["layout"], "layout") { options += ["--input-layout", layout] }
        if let pixels = entry["pixels"] {
            guard let p = pixels as? [String: Any] else { throw fail("\"pixels\" must be an object") }
            if let unknown = Set(p.keys).subtracting(Self.pixelKeys).sorted().first {
                throw fail("unknown key 'pixels.\(unknown)' (known: color, mean, std)")
            }
            options.append("--pixels")
            if let color = try string(p["color"], "pixels.color") {
                guard ["gray", "rgb", "auto"].contains(color) else {
                    throw fail("\"pixels.color\" is gray, rgb or auto")
                }
                if color != "auto" { options.append("--\(color)") }
            }
            for key in ["mean", "std"] {
                if let v = try numbers(p[key], "pixels.\(key)") {
                    options += ["--\(key)", v.map { String($0) }.joined(separator: ",")]
                }
            }
        }
        if let quantize = entry["quantize"] {
            guard let q = quantize as? [String: Any] else { throw fail("\"quantize\" must be an object") }
            if let unknown = Set(q.keys).subtracting(Self.quantizeKeys).sorted().first {
                throw fail(
                    "unknown key 'quantize.\(unknown)' (known: \(Self.quantizeKeys.sorted().joined(separator: ", ")))")
            }
            guard let folder = try string(q["calibration"], "quantize.calibration") else {
                throw fail("\"quantize\" needs \"calibration\": a folder of images beside fercc.json")
            }
            let url = directory.appending(path: folder)
            calibration = url
            calibrationFiles = Self.files(under: url)
            guard !calibrationFiles.isEmpty else {
                throw fail("the calibration folder \(url.path(percentEncoded: false)) is missing or empty")
            }
            if let method = try string(q["method"], "quantize.method") { options += ["--method", method] }
            if let perTensor = q["perTensor"] {
                guard let b = perTensor as? Bool else { throw fail("\"quantize.perTensor\" must be true or false") }
                if b { options.append("--per-tensor") }
            }
            if let exclude = q["exclude"] {
                guard let e = exclude as? [String] else {
                    throw fail("\"quantize.exclude\" must be a list of node names")
                }
                options += ["--exclude", e.joined(separator: ",")]
            }
            if let limit = q["limit"] {
                guard let n = limit as? Int, !(limit is Bool) else {
                    throw fail("\"quantize.limit\" must be an integer")
                }
                options += ["--limit", String(n)]
            }
            if entry["pixels"] == nil { options.append("--no-pixels") }
        }
    }

    /// The fercc command line that writes the class into `output`.
    func arguments(output: URL) -> [String] {
        let path = model.path(percentEncoded: false)
        let out = ["-o", output.path(percentEncoded: false), "--no-bench"]
        if let calibration {
            return ["quantize", path, "--calib", calibration.path(percentEncoded: false)] + out + options
        }
        return ["convert", path] + out + options
    }

    /// Every regular file below `url`, sorted (the build reruns when one changes).
    static func files(under url: URL) -> [URL] {
        let url = url.resolvingSymlinksInPath()
        guard let e = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return []
        }
        return e.compactMap { $0 as? URL }.filter {
            (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
        }.sorted { $0.path < $1.path }
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
