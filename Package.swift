// swift-tools-version:6.1
import PackageDescription

// Layers depend in one direction only (docs/design.md):
// FerccKernels <- FerccIR <- importers, FerccLowering <- FerccRuntime, FerccCodegen <- Fercc <- fercc (CLI).
// No target probes the host or needs unsafe flags, so other packages can depend on fercc. The
// kernels' fast paths are a build option: `-Xswiftc -DFERCC_AVX2 -Xswiftc -Xcc -Xswiftc -march=x86-64-v3`
// (scripts/build-flags prints the flags for this machine; the README's commands use them).
let package = Package(
    name: "fercc",
    products: [
        .executable(name: "fercc", targets: ["fercc"]),
        .library(name: "Fercc", targets: ["Fercc"]),
        // Compiles a target's .onnx/.tflite models (each described in a fercc.json beside it) into
        // Swift classes at build time.
        .plugin(name: "FerccPlugin", targets: ["FerccPlugin"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        ),
        // PNG and JPEG decoding of calibration images with Debian's libpng and libjpeg-turbo.
        .target(
            name: "CImage",
            path: "Sources/CImage",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(name: "FerccIR", dependencies: ["FerccKernels"]),
        // The kernels, standard library only. Their fast paths (FMA, AVX2, AVX-512 VNNI) are the build
        // option above; without it they multiply and add separately (docs/design.md, decision 17).
        .target(name: "FerccKernels"),
        .target(name: "FerccONNX", dependencies: ["FerccIR", "CONNX"]),
        .target(name: "FerccTFLite", dependencies: ["FerccIR", "CTFLite"]),
        // The execution plan: every op lowered once into kernel calls, for the interpreter and the emitter.
        .target(name: "FerccLowering", dependencies: ["FerccIR", "FerccKernels"]),
        .target(name: "FerccRuntime", dependencies: ["FerccIR", "FerccKernels", "FerccLowering"]),
        // Graph passes; fold-constants evaluates with the interpreter (the same kernels).
        .target(name: "FerccPasses", dependencies: ["FerccIR", "FerccLowering", "FerccRuntime"]),
        // Swift code generation: prints the execution plan, with the kernels' source text that the
        // EmbedKernelSources plugin makes from FerccKernels at build time.
        .target(
            name: "FerccCodegen", dependencies: ["FerccIR", "FerccKernels", "FerccLowering"],
            plugins: ["EmbedKernelSources"]),
        .executableTarget(name: "fercc-embed-kernels"),
        .plugin(name: "EmbedKernelSources", capability: .buildTool(), dependencies: ["fercc-embed-kernels"]),
        // Post-training quantization: calibration observers, the int8 graph, the accuracy report.
        .target(name: "FerccQuantize", dependencies: ["FerccIR", "FerccKernels", "FerccRuntime"]),
        .target(
            name: "Fercc",
            dependencies: [
                "FerccIR", "FerccKernels", "FerccONNX", "FerccTFLite", "FerccLowering", "FerccRuntime", "FerccPasses",
                "FerccCodegen",
                "FerccQuantize", "CImage"
            ]
        ),
        .executableTarget(
            name: "fercc",
            dependencies: [
                "Fercc", "FerccIR", "FerccLowering", "FerccCodegen", "FerccPasses", "FerccQuantize", "FerccTFLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        .plugin(name: "FerccPlugin", capability: .buildTool(), dependencies: ["fercc"]),
        // Tests, one target per layer; FerccTestSupport holds what they share (paths, a seeded
        // generator, running processes and the fercc binary).
        .target(name: "FerccTestSupport", path: "Tests/FerccTestSupport"),
        .testTarget(name: "IRTests", dependencies: ["FerccIR", "FerccTestSupport"]),
        .testTarget(
            name: "ImporterTests",
            dependencies: [
                "Fercc", "FerccIR", "FerccONNX", "FerccTFLite", "FerccPasses", "FerccRuntime",
                "FerccTestSupport"
            ]),
        .testTarget(name: "KernelTests", dependencies: ["FerccKernels", "FerccTestSupport"]),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Fercc", "FerccIR", "FerccLowering", "FerccRuntime", "FerccTFLite", "FerccONNX",
                "FerccPasses", "FerccTestSupport"
            ]),
        .testTarget(
            name: "PassTests",
            dependencies: [
                "Fercc", "FerccIR", "FerccONNX", "FerccTFLite", "FerccPasses", "FerccRuntime",
                "FerccTestSupport"
            ]),
        .testTarget(
            name: "QuantizeTests",
            dependencies: [
                "Fercc", "FerccIR", "FerccKernels", "FerccLowering", "FerccPasses", "FerccQuantize", "FerccRuntime",
                "FerccCodegen", "FerccTestSupport"
            ]),
        .testTarget(
            name: "CodegenTests",
            dependencies: [
                "Fercc", "FerccIR", "FerccLowering", "FerccCodegen", "FerccPasses", "FerccRuntime",
                "FerccTestSupport"
            ]),
        // The commands and the executable (which swift test builds next to the test bundle).
        .testTarget(
            name: "CLITests",
            dependencies: [
                "Fercc", "FerccIR", "FerccLowering", "FerccCodegen", "FerccPasses", "FerccQuantize", "FerccRuntime",
                "FerccTestSupport", "fercc"
            ])
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
