extension Kernels {
    /// `byteCount` zeroed bytes, 64-byte aligned, or nil when they cannot be had (where
    /// `allocate(byteCount:alignment:)` traps); freed by `deallocate()` (docs/design.md, decision 20).
    public static func allocateZeroed(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= 0 else { return nil }
        let size = max(byteCount, 64)
        #if os(Windows)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        #else
        var pointer: UnsafeMutableRawPointer? = nil
        guard alignedAllocation(&pointer, 64, size) == 0, let memory = pointer else { return nil }
        #endif
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return memory
    }
}

#if !os(Windows)
@_silgen_name("posix_memalign")
private func alignedAllocation(
    _ pointer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int
) -> Int32
#endif
