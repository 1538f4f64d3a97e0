import Fercc

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

/// SwiftPM links an executable's entry point as `FuzzImage_main`; hand control to libFuzzer's driver.
@_cdecl("FuzzImage_main")
public func FuzzImageMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzImage(data!, size) }
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
