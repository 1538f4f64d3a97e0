import FerccIR
import FerccONNX
import Foundation

/// Opens a model file of any format fercc reads and returns its IR graph.
public enum ModelLoader {
    public static func load(path: String) throws -> Graph {
        guard FileManager.default.fileExists(atPath: path) else { throw FerccError(file: path, "no such file") }
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        if ext == "tflite" {
            throw FerccError(file: path, "TFLite models are not supported by this version of fercc (ONNX only)")
        }
        return try ONNXImporter.importModel(path: path)
    }
}
