import Fercc

/// FER2013 CSV text (any bytes that are UTF-8): header and row parsing, every usage filter.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFER2013(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else {
        return 0
    }
    for usage in [nil, "Training", "PublicTest"] {
        _ = try? FER2013.parse(text, source: "fuzz.csv", usage: usage, limit: 50)
    }
    return 0
}

/// SwiftPM links an executable's entry point as `FuzzFER2013_main`; hand control to libFuzzer's driver.
@_cdecl("FuzzFER2013_main")
public func FuzzFER2013Main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzFER2013(data!, size) }
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
