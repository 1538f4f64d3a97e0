// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for fercc's parsers (scripts/fuzz builds and runs them; docs/robustness.md).
// Each target is one file defining LLVMFuzzerTestOneInput: any thrown error is a correct answer to
// bad input, any crash, trap, leak or hang is a bug. scripts/fuzz builds everything with
// AddressSanitizer and libFuzzer's coverage instrumentation (`--sanitize address`,
// `-sanitize-coverage`, clang's `-fsanitize=fuzzer-no-link`); only these targets link libFuzzer,
// whose `main` replaces theirs (SwiftPM's `--sanitize fuzzer` would give fercc's own build tools
// two mains).
let fuzzers = ["FuzzONNX", "FuzzTFLite", "FuzzImage", "FuzzNPY", "FuzzFER2013", "FuzzMutatedModels"]

let package = Package(
    name: "FuzzTesting",
    dependencies: [.package(name: "fercc", path: "..")],
    targets: [.target(name: "FuzzDriver")]
        + fuzzers.map {
            .executableTarget(
                name: $0, dependencies: ["FuzzDriver", .product(name: "Fercc", package: "fercc")],
                swiftSettings: [.unsafeFlags(["-parse-as-library"])],
                linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])])
        }
)
