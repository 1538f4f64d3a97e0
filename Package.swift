// swift-tools-version:5.10
import PackageDescription
import Foundation

// Layers depend in one direction only (docs/design.md):
// FerccIR <- FerccONNX (+ CONNX) ; FerccKernels <- FerccRuntime (+ FerccIR) ; all <- Fercc (library) <- fercc (CLI)
// The kernels are built for the host CPU. Where it has AVX2, FERCC_AVX2 turns on the int8 kernels'
// AVX2 paths (Sources/FerccKernels/QuantizedAVX2.swift): swiftc cannot compile AVX2 intrinsics
// for a CPU without them, and Swift has no condition for target features.
let hostHasAVX2: Bool = {
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    return flags.split(separator: " ").contains("avx2")
    #else
    return false
    #endif
}()
// FERCC_AVX512 (with FERCC_AVX2) turns on the AVX-512 VNNI path of the regular int8 convolutions
// (QuantizedAVX512.swift) where the host has AVX-512 F, BW, VL and VNNI.
let hostHasAVX512VNNI: Bool = {
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    let have = Set(flags.split(separator: " ").map(String.init))
    return ["avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(have.contains)
    #else
    return false
    #endif
}()
let hostCPU: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=native"])] + (hostHasAVX2 ? [.define("FERCC_AVX2")] : [])
    + (hostHasAVX512VNNI ? [.define("FERCC_AVX512")] : [])

let package = Package(
    name: "fercc",
    products: [
        .executable(name: "fercc", targets: ["fercc"]),
        .library(name: "Fercc", targets: ["Fercc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // protoc-c output for schemas/onnx.proto (scripts/generate-onnx-c).
        .target(
            name: "CONNX",
            path: "Sources/CONNX",
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        // flatc output for schemas/tflite.fbs (scripts/generate-tflite-cpp) behind a C API that
        // runs the flatbuffers Verifier first (Swift cannot use the generated C++ tables).
        .target(
            name: "CTFLite",
            path: "Sources/CTFLite",
            cxxSettings: [.unsafeFlags(["-std=c++17"])]
        ),
        // PNG and JPEG decoding of calibration images with Debian's libpng and libjpeg-turbo.
        .target(
            name: "CImage",
            path: "Sources/CImage",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(name: "FerccIR"),
        // The kernels compute with SIMD and `addingProduct`: built for the host CPU so that it becomes
        // FMA instructions (without FMA flags it becomes calls to fmaf, ~100x slower; docs/design.md).
        .target(name: "FerccKernels", swiftSettings: hostCPU),
        .target(name: "FerccONNX", dependencies: ["FerccIR", "CONNX"]),
        .target(name: "FerccTFLite", dependencies: ["FerccIR", "CTFLite"]),
        .target(name: "FerccRuntime", dependencies: ["FerccIR", "FerccKernels"], swiftSettings: hostCPU),
        // Graph passes; fold-constants evaluates with the interpreter (the same kernels).
        .target(name: "FerccPasses", dependencies: ["FerccIR", "FerccRuntime"]),
        // Swift code generation; carries the kernels' source text (scripts/generate-kernel-sources).
        // (Kernels too: weights are packed at emit time with the kernels' own pack functions; Runtime
        // for QuantizedSpec, the int8 parameters the interpreter uses.)
        .target(name: "FerccCodegen", dependencies: ["FerccIR", "FerccKernels", "FerccRuntime"]),
        // Post-training quantization: calibration observers, the int8 graph, the accuracy report.
        .target(name: "FerccQuantize", dependencies: ["FerccIR", "FerccKernels", "FerccRuntime"]),
        .target(name: "Fercc", dependencies: ["FerccIR", "FerccONNX", "FerccTFLite", "FerccRuntime", "FerccPasses", "FerccCodegen", "FerccQuantize", "CImage"]),
        .executableTarget(
            name: "fercc",
            dependencies: ["Fercc", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "FerccTests",
            dependencies: ["Fercc", "FerccIR", "FerccONNX", "FerccTFLite", "FerccRuntime", "FerccKernels", "FerccPasses", "FerccCodegen", "FerccQuantize"]
        ),
    ]
)
