import Fercc
import FerccPasses
import FerccTFLite
import Foundation

/// TFLite bytes: the flatbuffers Verifier, the reader, the importer, the default passes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFLite(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let model = try? TFLiteReader.read(bytes: bytes), var graph = try? TFLiteImporter.importModel(model) else {
        return 0
    }
    _ = try? PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
    return 0
}

/// SwiftPM links an executable's entry point as `FuzzTFLite_main`; hand control to libFuzzer's driver.
@_cdecl("FuzzTFLite_main")
public func FuzzTFLiteMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzTFLite(data!, size) }
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
