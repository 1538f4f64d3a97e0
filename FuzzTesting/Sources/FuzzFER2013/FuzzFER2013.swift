import Fercc
import FuzzDriver

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

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzFER2013_main")
public func FuzzFER2013Main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzFER2013(data!, size) }
}
