import Fercc
import FuzzDriver

/// FER2013 CSV text (any bytes that are UTF-8): header and row parsing, with a usage filter (none,
/// Training or PublicTest) picked by the input's length, so each input is parsed once.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFER2013(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else {
        return 0
    }
    let usage = [nil, "Training", "PublicTest"][size % 3]
    _ = try? FER2013.parse(text, source: "fuzz.csv", usage: usage, limit: 50)
    return 0
}

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzFER2013_main")
public func FuzzFER2013Main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzFER2013(data!, size) }
}
