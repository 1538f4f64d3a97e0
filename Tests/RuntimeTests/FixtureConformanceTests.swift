import Fercc
import FerccIR
import FerccONNX
import FerccRuntime
import FerccTestSupport
import Foundation
import XCTest

/// Every fixture model of fixtures/onnx (every supported op and attribute form, composite blocks)
/// run by the interpreter and compared with onnxruntime's outputs.
final class FixtureConformanceTests: XCTestCase {
    struct Index: Decodable {
        struct Binding: Decodable { var name: String; var file: String }
        struct Case: Decodable { var name: String; var model: String; var inputs: [Binding]; var outputs: [Binding] }
        var cases: [Case]
    }

    func testEveryFixtureMatchesOnnxRuntime() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repo.fixtures + "/index.json"))
        let index = try JSONDecoder().decode(Index.self, from: data)
        XCTAssertGreaterThanOrEqual(index.cases.count, 80)
        for c in index.cases {
            let graph = try ONNXImporter.importModel(path: Repo.fixtures + "/" + c.model)
            var feeds: [String: [Float]] = [:]
            for i in c.inputs { feeds[i.name] = try NPY.read(path: Repo.fixtures + "/" + i.file).data }
            let out = try Interpreter(graph: graph).run(feeds)
            for o in c.outputs {
                let ref = try NPY.read(path: Repo.fixtures + "/" + o.file)
                XCTAssertEqual(graph.values[o.name]?.type.shape, ref.shape, "\(c.name): shape of \(o.name)")
                guard let got = out[o.name], got.count == ref.data.count else {
                    XCTFail("\(c.name): output \(o.name) missing or of the wrong size")
                    continue
                }
                XCTAssertLessThanOrEqual(relativeError(got, ref.data), 1e-5, "\(c.name): \(o.name)")
            }
        }
    }

    func testEverySupportedOpHasAFixture() throws {
        var seen = Set<String>()
        for dir in [Repo.fixtures, Repo.path("fixtures/qdq")] {
            for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".onnx") {
                let model = try ONNXReader.read(path: dir + "/" + file)
                for n in model.graph.nodes { seen.insert(n.opType) }
            }
        }
        let missing = Set(ONNXImporter.supportedOps + ONNXImporter.foldedOps).subtracting(seen)
        XCTAssertEqual(missing, [], "ops without a fixture")
    }

    func testFERModelForTheReadme() throws {
        let model = Repo.path("fixtures/fer/fer_mini_xception.onnx")
        let results = try RunCommand.run(model: model, inputs: [.init(Repo.path("fixtures/fer/face.npy"))], outputs: [])
        let ref = try NPY.read(path: Repo.path("fixtures/fer/expression.npy"))
        XCTAssertEqual(results.count, 1)
        XCTAssertEqual(results[0].array.shape, [1, 7])
        XCTAssertLessThanOrEqual(relativeError(results[0].array.data, ref.data), 1e-5)
        XCTAssertEqual(results[0].array.data.reduce(0, +), 1, accuracy: 1e-5, "softmax output sums to 1")
    }

    func testShuffleNetShapeArithmeticIsFoldedAway() throws {
        let graph = try ONNXImporter.importModel(path: Repo.fixtures + "/shufflenet_unit.onnx")
        for node in graph.nodes {
            for v in node.inputs + node.outputs {
                XCTAssertEqual(
                    graph.values[v]?.type.dtype == .int64 && graph.values[v]?.isConstant == false, false,
                    "int64 value \(v) survives at run time")
            }
        }
        XCTAssertTrue(
            graph.nodes.contains {
                if case .transpose(let p) = $0.op { return p == [0, 2, 1, 3, 4] } else { return false }
            },
            "the channel shuffle keeps its 5-D transpose")
        XCTAssertNoThrow(try graph.validate())
    }
}
