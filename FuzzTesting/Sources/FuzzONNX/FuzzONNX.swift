import Fercc
import FerccONNX
import FerccPasses
import Foundation
import FuzzDriver

/// ONNX bytes: read, import, validate, run the default passes (shape inference throughout).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let model = try? ONNXReader.read(data: bytes, path: "fuzz.onnx"),
        var graph = try? ONNXImporter.importModel(model, path: "fuzz.onnx")
    else { return 0 }
    _ = try? PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
    return 0
}

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzONNX_main")
public func FuzzONNXMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzONNX(data!, size) }
}
