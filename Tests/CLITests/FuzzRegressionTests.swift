import Fercc
import FerccIR
import FerccONNX
import FerccPasses
import FerccTFLite
import FerccTestSupport
import Foundation
import XCTest

/// Every input a fuzzer once crashed on (FuzzTesting/FailCases/<target>/, scripts/fuzz writes
/// them) goes through the same code as its fuzz target, without the fuzzer: it must end in a
/// one-line error (or be accepted), never a crash.
final class FuzzRegressionTests: XCTestCase {
    static let failCases = Repo.path("FuzzTesting/FailCases")

    func cases(_ target: String) throws -> [String] {
        let dir = Self.failCases + "/" + target
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return files.filter { !$0.hasPrefix(".") }.sorted().map { dir + "/" + $0 }
    }

    func expectOneLineErrorOrSuccess(_ file: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch let e as FerccError {
            XCTAssertFalse("\(e)".contains("\n"), "\(file): a multi-line error: \(e)")
        } catch {
            XCTFail("\(file): not a FerccError: \(error)")
        }
    }

    func testEveryFailCaseIsNowAnErrorOrAccepted() throws {
        var replayed = 0
        for file in try cases("FuzzONNX") {
            expectOneLineErrorOrSuccess(file) {
                var graph = try ONNXImporter.importModel(
                    try ONNXReader.read(data: try Data(contentsOf: URL(fileURLWithPath: file)), path: file), path: file)
                _ = try PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
            }
            replayed += 1
        }
        for file in try cases("FuzzTFLite") {
            expectOneLineErrorOrSuccess(file) {
                var graph = try TFLiteImporter.importModel(
                    try TFLiteReader.read(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))))
                _ = try PassManager.run(&graph, pipeline: PassManager.defaultPipeline)
            }
            replayed += 1
        }
        for file in try cases("FuzzImage") {
            expectOneLineErrorOrSuccess(file) { _ = try ImageDecoder.decode(file) }
            replayed += 1
        }
        for file in try cases("FuzzNPY") {
            expectOneLineErrorOrSuccess(file) { _ = try NPY.read(path: file) }
            replayed += 1
        }
        for file in try cases("FuzzFER2013") {
            expectOneLineErrorOrSuccess(file) { _ = try FER2013.read(file, usage: nil, limit: nil) }
            replayed += 1
        }
        print("replayed \(replayed) fuzzer fail cases")
    }
}
