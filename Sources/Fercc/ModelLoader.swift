import FerccIR
import FerccONNX
import FerccPasses
import FerccTFLite
import Foundation

/// Opens a model file of any format fercc reads and returns its IR graph.
public enum ModelLoader {
    /// Loads and runs `pipeline` (pass names) over the graph; returns what each pass did.
    /// `hybrid`: how dynamic-range TFLite ops compute (LiteRT's arithmetic by default).
    public static func load(
        path: String, pipeline: [String], hybrid: TFLiteImporter.HybridArithmetic = .litert
    ) throws -> (Graph, [PassResult]) {
        var graph = try load(path: path, hybrid: hybrid)
        do {
            let results = try PassManager.run(&graph, pipeline: pipeline)
            return (graph, results)
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    public static func load(path: String, hybrid: TFLiteImporter.HybridArithmetic = .litert) throws -> Graph {
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
        if isTFLite(path) { return try TFLiteImporter.importModel(path: path, hybrid: hybrid) }
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
