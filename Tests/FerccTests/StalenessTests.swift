import Fercc
import Foundation
import XCTest

/// Committed generated files must equal what their generators write now.
final class StalenessTests: XCTestCase {
    func testCommittedProtobufCCodeIsFresh() throws {
        let dir = try temporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Repo.path("scripts/generate-onnx-c"), dir.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "scripts/generate-onnx-c failed (is protoc-c installed?)")
        for file in ["onnx.pb-c.c", "include/onnx.pb-c.h"] {
            let fresh = try String(contentsOfFile: dir.appendingPathComponent(file).path, encoding: .utf8)
            let committed = try String(contentsOfFile: Repo.path("Sources/CONNX/\(file)"), encoding: .utf8)
            XCTAssertEqual(fresh, committed, "Sources/CONNX/\(file) is stale: run scripts/generate-onnx-c")
        }
    }

    func testOpsTableIsFresh() throws {
        let committed = try String(contentsOfFile: Repo.path("docs/ops.md"), encoding: .utf8)
        XCTAssertEqual(committed, SupportedOps.markdown() + "\n", "docs/ops.md is stale: run `fercc ops > docs/ops.md`")
    }
}

extension StalenessTests {
    func testCommittedFlatbuffersHeaderIsFresh() throws {
        let dir = try temporaryDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [Repo.path("scripts/generate-tflite-cpp"), dir.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "scripts/generate-tflite-cpp failed (is flatc installed?)")
        let fresh = try String(contentsOfFile: dir.appendingPathComponent("tflite_generated.h").path, encoding: .utf8)
        let committed = try String(contentsOfFile: Repo.path("Sources/CTFLite/tflite_generated.h"), encoding: .utf8)
        XCTAssertEqual(fresh, committed, "Sources/CTFLite/tflite_generated.h is stale: run scripts/generate-tflite-cpp")
    }
}
