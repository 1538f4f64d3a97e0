import FerccIR
import FerccONNX
import FerccPasses
import FerccTFLite
import Foundation

/// Opens a model file of any format fercc reads and returns its IR graph.
public enum ModelLoader {
    /// Loads and runs `pipeline` (pass names) over the graph; returns what each pass did.
    /// How a model is read: dynamic-range arithmetic and the memory a model may need.
    public struct Options: Sendable {
        /// How dynamic-range TFLite ops compute (LiteRT's arithmetic by default).
        public var hybrid = TFLiteImporter.HybridArithmetic.litert
        /// Bytes a model may need for its weights and activations together (`--max-memory`):
        /// a model with absurd shapes is refused at import instead of exhausting memory later.
        public var maxMemory = 4 << 30
        public init() {}
    }

    public static func load(
        path: String, pipeline: [String], options: Options = .init()
    ) throws -> (Graph, [PassResult]) {
        var graph = try load(path: path, options: options)
        do {
            let results = try PassManager.run(&graph, pipeline: pipeline)
            return (graph, results)
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    public static func load(path: String, options: Options = .init()) throws -> Graph {
        let graph = try importGraph(path: path, options: options)
        do {
            try checkMemory(graph, limit: options.maxMemory)
        } catch let e as FerccError {
            throw e.inFile(path)
        }
        return graph
    }

    /// Every value's bytes, and weights plus all activations together, within `limit`; sizes are
    /// computed without overflow whatever the shapes say.
    public static func checkMemory(_ graph: Graph, limit: Int) throws {
        var total = 0
        for name in graph.values.keys.sorted() {
            let t = graph.values[name]!.type
            var bytes = t.dtype.byteSize
            for d in t.shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: max(d, 0))
                bytes = overflow ? Int.max : product
            }
            guard bytes <= limit else {
                throw FerccError(
                    "value '\(name)' \(t) needs \(describeBytes(bytes)), more than the memory limit of "
                        + "\(describeBytes(limit)) (--max-memory)")
            }
            total = total.addingReportingOverflow(bytes).overflow ? Int.max : total + bytes
        }
        guard total <= limit else {
            throw FerccError(
                "weights and activations need \(describeBytes(total)) together, more than the memory limit of "
                    + "\(describeBytes(limit)) (--max-memory)")
        }
    }

    static func importGraph(path: String, options: Options) throws -> Graph {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FerccError(file: path, "no such file")
        }
        guard !isDir.boolValue else {
            throw FerccError(file: path, "is a directory, not a model file (.onnx or .tflite)")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FerccError(file: path, "cannot read the file (permission denied)")
        }
        if isTFLite(path) { return try TFLiteImporter.importModel(path: path, hybrid: options.hybrid) }
        return try ONNXImporter.importModel(path: path)
    }

    /// TFLite by extension or by the "TFL3" file identifier at byte 4; everything else is read as ONNX.
    static func isTFLite(_ path: String) -> Bool {
        if URL(fileURLWithPath: path).pathExtension.lowercased() == "tflite" { return true }
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let head = try? h.read(upToCount: 8), head.count == 8 else { return false }
        return head.dropFirst(4).elementsEqual("TFL3".utf8)
    }
}
