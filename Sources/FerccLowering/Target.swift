import FerccKernels

/// An instruction-set column of the kernel table: the kernel files of a kind that use it are
/// marked `requires(<isa>)` in their headers (see `KernelSourceIndex`).
public enum ISA: String, CaseIterable, Sendable {
    case portable, avx2, avx512
    /// AArch64's NEON (its base instruction set: no flags).
    case neon
    /// AArch64's dot product (ARMv8.2-A `sdot`).
    case dotprod
}

/// What generated code is built for: the instruction sets whose kernel paths it carries and the
/// compiler flags that turn them on. Every target's code also compiles with no flags at all (the
/// portable paths), so a plain SwiftPM package builds it; the flags make it fast.
public enum Target: String, CaseIterable, Sendable {
    /// The machine fercc runs on (resolved to one of the others before lowering).
    case host
    case x86_64_avx2 = "x86-64-avx2"
    case x86_64_avx512 = "x86-64-avx512"
    case arm64
    /// ARMv8.2-A with the dot product: Apple A13 and later, Cortex-A76 / Snapdragon 855 and later.
    case arm64_dotprod = "arm64-dotprod"
    case portable

    /// The target fercc's own kernels were built for (what the interpreter runs).
    public static var build: Target {
        #if arch(arm64) && FERCC_DOTPROD
        return .arm64_dotprod
        #elseif arch(arm64)
        return .arm64
        #else
        if Kernels.quantizedKernelsUseVNNI { return .x86_64_avx512 }
        return Kernels.quantizedKernelsUseAVX2 ? .x86_64_avx2 : .portable
        #endif
    }

    public enum Architecture: String, Sendable { case x86_64 = "x86-64", arm64, any }

    /// The architecture the code is built for (any: the host's, or portable code).
    public var architecture: Architecture {
        switch self {
        case .x86_64_avx2, .x86_64_avx512: return .x86_64
        case .arm64, .arm64_dotprod: return .arm64
        case .host, .portable: return .any
        }
    }

    /// The kernel table's columns this target's code carries, best first (portable last: what a
    /// build without the flags runs).
    public var isas: [ISA] {
        switch self {
        case .x86_64_avx512: return [.avx512, .avx2, .portable]
        case .x86_64_avx2: return [.avx2, .portable]
        case .arm64_dotprod: return [.dotprod, .neon, .portable]
        case .arm64: return [.neon, .portable]
        case .portable: return [.portable]
        case .host: return Target.build.isas
        }
    }

    /// swiftc flags that turn the fast paths on (`-Xcc -march=...` for the instruction set and
    /// FMA, `-D` for the kernels' conditions); none needed on arm64 (NEON and FMA are baseline);
    /// the dot product needs ARMv8.2-A's extension.
    public var swiftcFlags: [String] {
        switch self {
        case .x86_64_avx2: return ["-Xcc", "-march=x86-64-v3", "-D", "FERCC_AVX2"]
        case .x86_64_avx512:
            return ["-Xcc", "-march=x86-64-v4", "-Xcc", "-mavx512vnni", "-D", "FERCC_AVX2", "-D", "FERCC_AVX512"]
        case .arm64_dotprod: return ["-Xcc", "-march=armv8.2-a+dotprod", "-D", "FERCC_DOTPROD"]
        case .arm64, .portable: return []
        case .host: return Target.build.swiftcFlags
        }
    }

    /// The same flags as a SwiftPM target's `swiftSettings`.
    public var swiftSettings: String? {
        switch self {
        case .x86_64_avx2: return #"[.define("FERCC_AVX2"), .unsafeFlags(["-Xcc", "-march=x86-64-v3"])]"#
        case .x86_64_avx512:
            return #"[.define("FERCC_AVX2"), .define("FERCC_AVX512"), "#
                + #".unsafeFlags(["-Xcc", "-march=x86-64-v4", "-Xcc", "-mavx512vnni"])]"#
        case .arm64_dotprod: return #"[.define("FERCC_DOTPROD"), .unsafeFlags(["-Xcc", "-march=armv8.2-a+dotprod"])]"#
        case .arm64, .portable: return nil
        case .host: return Target.build.swiftSettings
        }
    }

    /// The CPU flags (as Linux's /proc/cpuinfo names them) that the target's -march enables and
    /// compiled code may use: a machine without one cannot run it.
    public var requiredCPUFlags: [String] {
        let v3 = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt"]
        switch self {
        case .x86_64_avx2: return v3
        case .x86_64_avx512: return v3 + ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"]
        case .arm64_dotprod: return ["asimddp"]
        case .host, .portable, .arm64: return []
        }
    }
}
