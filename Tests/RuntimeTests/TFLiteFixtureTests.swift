import Fercc
import FerccIR
import FerccPasses
import FerccRuntime
import FerccTFLite
import FerccTestSupport
import Foundation
import XCTest

/// Every TFLite fixture (every supported op, float and int8) against LiteRT's reference kernels:
/// float within the case's tolerance, int8 bit for bit.
final class TFLiteFixtureTests: XCTestCase {
    typealias Index = TFLiteFixtureIndex
    static let dir = TFLiteFixtureIndex.directory

    func testEveryFixtureMatchesLiteRTReferenceKernels() throws {
        let index = try JSONDecoder().decode(
            Index.self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/index.json")))
        XCTAssertGreaterThanOrEqual(index.cases.count, 60)
        var int8Cases = 0
        for c in index.cases {
            let graph = try TFLiteImporter.importModel(path: Self.dir + "/" + c.model)
            var feeds: [String: RuntimeTensor] = [:]
            for (i, b) in c.inputs.enumerated() {
                feeds[graph.inputs[i]] = try NPY.read(path: Self.dir + "/" + b.file).tensor
            }
            let out = try Interpreter(graph: graph).run(tensors: feeds)
            for (i, o) in c.outputs.enumerated() {
                let ref = try NPY.read(path: Self.dir + "/" + o.file)
                let name = graph.outputs[i]
                XCTAssertEqual(graph.values[name]?.type.shape, ref.shape, "\(c.name): shape")
                switch (out[name], ref.tensor) {
                case (.int8(let got)?, .int8(let want)):
                    int8Cases += 1
                    XCTAssertEqual(got, want, "\(c.name): int8 output differs from TFLite's reference kernels")
                case (.float(let got)?, .float(let want)):
                    XCTAssertLessThanOrEqual(relativeError(got, want), Float(max(c.tolerance, 1e-6)), "\(c.name)")
                default:
                    XCTFail(
                        "\(c.name): output type \(String(describing: out[name]?.dtype)) vs reference "
                            + "\(ref.tensor.dtype)"
                    )
                }
            }
        }
        XCTAssertGreaterThanOrEqual(int8Cases, 15)
    }

    /// Dynamic-range (hybrid) ops after the default passes, on the hand-made fixtures and on those
    /// TensorFlow's converter wrote (the trained FER mini-Xception on a real face among them):
    /// LiteRT's arithmetic by default (within 1e-4), `--hybrid float` within 1e-2; the top class
    /// of every row the same either way.
    func testHybridOpsComputeAsLiteRTOrInFloat() throws {
        let index = try TFLiteFixtureIndex.load()
        let cases = index.cases.filter { $0.name.hasPrefix("hybrid_") || $0.name.contains("dynamic_range") }
        XCTAssertGreaterThanOrEqual(cases.count, 12)
        XCTAssertTrue(cases.contains { $0.model.hasPrefix("../converted/fer_") }, "the converter's FER model")
        for c in cases {
            let x = try NPY.read(path: Self.dir + "/" + c.inputs[0].file)
            let ref = try NPY.read(path: Self.dir + "/" + c.outputs[0].file).data
            for (mode, tolerance) in [(TFLiteImporter.HybridArithmetic.litert, Float(1e-4)), (.float, 1e-2)] {
                var loading = ModelLoader.Options()
                loading.hybrid = mode
                let (graph, _) = try ModelLoader.load(
                    path: Self.dir + "/" + c.model, pipeline: PassManager.defaultPipeline, options: loading)
                XCTAssertEqual(
                    graph.nodes.contains {
                        $0.op == .dynamicQuantize(asymmetric: true) || $0.op == .dynamicQuantize(asymmetric: false)
                    },
                    mode == .litert, "\(c.name) \(mode)")
                let got = try Interpreter(graph: graph).run([graph.inputs[0]: x.data])[graph.outputs[0]]!
                XCTAssertLessThanOrEqual(relativeError(got, ref), tolerance, "\(c.name) \(mode)")
                let width = ref.count / x.shape[0]
                for row in 0..<x.shape[0] {
                    let r = (row * width)..<((row + 1) * width)
                    XCTAssertEqual(
                        got[r].indices.max { got[$0] < got[$1] }, ref[r].indices.max { ref[$0] < ref[$1] },
                        "\(c.name) \(mode): top-1 of row \(row)")
                }
            }
        }
    }

    func testEverySupportedOpHasAFixture() throws {
        var seen = Set<String>()
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.dir) where file.hasSuffix(".tflite") {
            let model = try TFLiteReader.read(path: Self.dir + "/" + file)
            for op in model.operators { seen.insert(TFLiteOp.name(op.builtinCode)) }
        }
        XCTAssertEqual(Set(TFLiteImporter.supportedOps).subtracting(seen), [], "ops without a fixture")
    }

    func testTFLiteErrors() throws {
        func error(_ name: String) -> FerccError? {
            let path = Repo.path("fixtures/errors/\(name)")
            do {
                _ = try ModelLoader.load(path: path)
                XCTFail("\(name) loaded")
                return nil
            } catch let e as FerccError {
                XCTAssertEqual(e.file, path)
                XCTAssertFalse(e.description.contains("\n"))
                return e
            } catch {
                XCTFail("\(error)")
                return nil
            }
        }
        XCTAssertNotNil(error("not_a_flatbuffer.tflite")?.reason.range(of: "not a TFLite model"))
        XCTAssertNotNil(error("fails_verifier.tflite")?.reason.range(of: "fails verification"))
        XCTAssertNotNil(error("truncated.tflite")?.reason.range(of: "verification"))
        XCTAssertNotNil(error("tensor_index_out_of_range.tflite")?.reason.range(of: "refers to tensor 7"))
        XCTAssertEqual(
            error("unsupported_ops.tflite")?.reason,
            "unsupported ops: ROUND (first at operator #0 'a'), CUSTOM(MyFaceAligner) (first at operator #3 'output')")
        // LiteRT refuses a hybrid depthwise convolution with uint8 weights; so does fercc, but
        // computes it in float when asked.
        XCTAssertNotNil(
            error("hybrid_depthwise_uint8.tflite")?.description.range(
                of: "DEPTHWISE_CONV_2D #0 'output': uint8 weights with a float input: LiteRT's hybrid "
                    + "DEPTHWISE_CONV_2D takes int8 weights only"))
        var float = ModelLoader.Options()
        float.hybrid = .float
        XCTAssertNoThrow(
            try ModelLoader.load(path: Repo.path("fixtures/errors/hybrid_depthwise_uint8.tflite"), options: float))
    }

    func testRandomCorruptionNeverCrashes() throws {
        var imported = 0
        for name in [
            "int8_conv_per_channel_relu6", "conv_same_stride2_relu6", "strided_slice_masks", "int8_data_movement"
        ] {
            let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).tflite")))
            var rng = SeededRandom(11)
            for _ in 0..<150 {
                var bytes = full
                for _ in 0..<4 {
                    let i = Int((rng.next() + 1) / 2 * Float(bytes.count - 1))
                    bytes[i] = UInt8(truncatingIfNeeded: Int((rng.next() + 1) * 127))
                }
                do {
                    let graph = try TFLiteImporter.importModel(try TFLiteReader.read(bytes: bytes))
                    // A corrupted model that still imports must run (zeros in, no trap).
                    var feeds: [String: RuntimeTensor] = [:]
                    for input in graph.inputs {
                        let t = graph.values[input]!.type
                        feeds[input] =
                            t.dtype == .float32
                            ? .float([Float](repeating: 0.5, count: t.count))
                            : t.dtype == .uint8
                                ? .uint8([UInt8](repeating: 3, count: t.count))
                                : .int8([Int8](repeating: 3, count: t.count))
                    }
                    _ = try Interpreter(graph: graph).run(tensors: feeds)
                    imported += 1
                } catch is FerccError {
                    // expected for most corruptions
                }
            }
        }
        XCTAssertGreaterThan(imported, 0, "some corruptions (weight bytes) leave a valid model")
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/int8_conv_per_channel_relu6.tflite")))
        for cut in stride(from: 0, to: full.count, by: 97) {
            XCTAssertThrowsError(try TFLiteReader.read(bytes: Array(full.prefix(cut))))
        }
    }

    func testRunQuantizesFloatInputsAndDequantizesOutputs() throws {
        let model = Self.dir + "/int8_conv_per_channel_relu6.tflite"
        let graph = try ModelLoader.load(path: model)
        let q = graph.values[graph.inputs[0]]!.type.quantization!
        let raw = try NPY.read(path: Self.dir + "/int8_conv_per_channel_relu6.in0.npy")
        // Real values that quantize back to exactly the raw fixture input.
        let real = raw.data.map { q.scale * ($0 - Float(q.zeroPoint)) }
        let dir = try temporaryDirectory()
        let input = dir.appendingPathComponent("x.npy").path
        try NPY.write(NPY.Array(shape: raw.shape, data: real), to: input)
        let floatOut = try RunCommand.run(model: model, inputs: [.init(input)], outputs: [])[0].array
        let rawOut = try RunCommand.run(
            model: model, inputs: [.init(Self.dir + "/int8_conv_per_channel_relu6.in0.npy")], outputs: [], raw: true)[0]
            .array
        let qo = graph.values[graph.outputs[0]]!.type.quantization!
        XCTAssertEqual(floatOut.data, rawOut.data.map { Float(Double(qo.scale) * Double($0 - Float(qo.zeroPoint))) })
        XCTAssertThrowsError(try RunCommand.run(model: model, inputs: [.init(input)], outputs: [], raw: true)) {
            XCTAssertNotNil(($0 as? FerccError)?.reason.range(of: "--raw"))
        }
    }
}
