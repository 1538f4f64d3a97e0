/// The entry point every fuzz target shares. SwiftPM links an executable's entry point as
/// `<Target>_main`, so each target defines that symbol and hands control here, to libFuzzer's
/// driver, with its `LLVMFuzzerTestOneInput` body as the callback.
public func runFuzzer(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments, callback)
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Runs `body` with LeakSanitizer not tracking what it allocates: for fixtures a target loads once
/// and keeps for the whole run. LeakSanitizer finds a pointer only where it is stored as is, and
/// Swift keeps a multi-payload enum's case in the spare high bits of its payload's pointer, so the
/// arrays of `TensorData.int64` (any case but the first) in a global look leaked at exit though
/// they are reachable (docs/robustness.md). What each input allocates stays tracked.
public func keptForTheWholeRun<T>(_ body: () -> T) -> T {
    leakSanitizerDisable()
    defer { leakSanitizerEnable() }
    return body()
}

@_silgen_name("__lsan_disable")
func leakSanitizerDisable()

@_silgen_name("__lsan_enable")
func leakSanitizerEnable()
