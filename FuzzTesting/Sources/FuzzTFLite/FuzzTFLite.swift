import Fercc
import FerccPasses
import FerccTFLite
import Foundation
import FuzzDriver

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

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzTFLite_main")
public func FuzzTFLiteMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzTFLite(data!, size) }
}
