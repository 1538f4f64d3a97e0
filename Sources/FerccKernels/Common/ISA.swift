extension Kernels {
    /// Whether this build of the kernels runs the int8 AVX2 paths (FERCC_AVX2 on x86-64, with
    /// -march=x86-64-v3 or newer: swiftc cannot compile the intrinsics for a CPU without AVX2).
    public static var quantizedKernelsUseAVX2: Bool {
        #if arch(x86_64) && FERCC_AVX2
        return true
        #else
        return false
        #endif
    }

    /// Whether this build runs the AVX-512 VNNI paths (FERCC_AVX512 with FERCC_AVX2).
    public static var quantizedKernelsUseVNNI: Bool {
        #if arch(x86_64) && FERCC_AVX512
        return true
        #else
        return false
        #endif
    }
}
