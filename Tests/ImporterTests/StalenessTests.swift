import Fercc
import FerccTestSupport
import Foundation
import XCTest

/// Committed generated files must equal what their generators write now.
final class StalenessTests: XCTestCase {
    /// Runs a generator script into a fresh directory and compares each output with the committed file.
    func assertFresh(
        script: String, outputs: [(generated: String, committed: String)], file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let dir = try temporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Repo.path(script), dir.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "\(script) failed (is its generator installed?)", file: file, line: line)
        for (generated, committed) in outputs {
            let fresh = try String(contentsOfFile: dir.appendingPathComponent(generated).path, encoding: .utf8)
            let current = try String(contentsOfFile: Repo.path(committed), encoding: .utf8)
            XCTAssertEqual(fresh, current, "\(committed) is stale: run \(script)", file: file, line: line)
        }
    }

    func testCommittedProtobufCCodeIsFresh() throws {
        try assertFresh(
            script: "scripts/generate-onnx-c",
            outputs: [
                ("onnx.pb-c.c", "Sources/CONNX/onnx.pb-c.c"),
                ("include/onnx.pb-c.h", "Sources/CONNX/include/onnx.pb-c.h")
            ])
    }

    func testCommittedFlatbuffersHeaderIsFresh() throws {
        try assertFresh(
            script: "scripts/generate-tflite-cpp",
            outputs: [("tflite_generated.h", "Sources/CTFLite/tflite_generated.h")])
    }

    func testOpsTableIsFresh() throws {
        let committed = try String(contentsOfFile: Repo.path("docs/ops.md"), encoding: .utf8)
        XCTAssertEqual(committed, SupportedOps.markdown() + "\n", "docs/ops.md is stale: run `fercc ops > docs/ops.md`")
    }
}
