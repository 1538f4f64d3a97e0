import Fercc
import FuzzDriver

/// .npy bytes: header parsing, dtype, shape and size checks; what parses is encoded again and must
/// parse to the same array.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let array = try? NPY.parse(bytes) else { return 0 }
    let again = try? NPY.parse(NPY.encode(array))
    precondition(again?.shape == array.shape, "an .npy array does not survive encode and parse")
    return 0
}

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzNPY_main")
public func FuzzNPYMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzNPY(data!, size) }
}
