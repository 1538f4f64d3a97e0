import Fercc
import FerccONNX
import FerccPasses
import Foundation

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

/// SwiftPM links an executable's entry point as `FuzzONNX_main`; hand control to libFuzzer's driver.
@_cdecl("FuzzONNX_main")
public func FuzzONNXMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzONNX(data!, size) }
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
