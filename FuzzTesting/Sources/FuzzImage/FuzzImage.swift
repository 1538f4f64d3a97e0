import Fercc
import FuzzDriver

/// PNG, JPEG and PGM/PPM bytes (the decoder picks by content), then the preprocessing of every
/// decoded image to a 48x48 gray and a 64x64 RGB model input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let image = try? ImageDecoder.decode(bytes, source: "fuzz") else { return 0 }
    for shape in [[1, 1, 48, 48], [1, 3, 64, 64]] {
        let geometry = CalibrationData.InputGeometry(.init(.float32, shape), sourceFormat: "onnx")
        _ = try? CalibrationData.prepare(image, geometry: geometry, preprocessing: .init(), source: "fuzz")
    }
    return 0
}

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzImage_main")
public func FuzzImageMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzImage(data!, size) }
}
