import Fercc
import FerccCodegen
import FerccIR
import FerccKernels
import FerccPasses
import FerccQuantize
import FerccRuntime
import FerccTestSupport
import Foundation
import XCTest

/// fercc quantize: image decoding and preprocessing, calibration, the int8 graph, the accuracy
/// report, the generated int8 code, and the one-line errors for bad calibration data.
final class QuantizeTests: XCTestCase {
    static let images = Repo.path("fixtures/images")
    static let fer = Repo.path("fixtures/fer/fer_mini_xception.onnx")

    func testDecodesEveryImageFormatAndPreprocesses() throws {
        let png = try ImageDecoder.decode(Self.images + "/faces/happy/happy_0.png")
        XCTAssertEqual([png.width, png.height, png.channels], [64, 64, 1])
        let rgb = try ImageDecoder.decode(Self.images + "/faces/happy/happy_3.rgb.png")
        XCTAssertEqual([rgb.width, rgb.height, rgb.channels], [72, 72, 3])
        let jpg = try ImageDecoder.decode(Self.images + "/faces/happy/happy_1.jpg")
        XCTAssertEqual([jpg.width, jpg.height, jpg.channels], [56, 56, 1])
        let pgm = try ImageDecoder.decode(Self.images + "/faces/happy/happy_2.pgm")
        XCTAssertEqual([pgm.width, pgm.height, pgm.channels], [48, 48, 1])
        // BT.601 luma of the RGB fixture (its channels are g, 0.9g, 0.8g), at its own size.
        func input(_ image: Image, _ w: Int, _ h: Int, channels: Int, mean: Float = 0, std: Float = 1) -> [Float] {
            let k = Kernels.ImageInput(
                width: w, height: h, channels: channels, nchw: true, mean: [Float](repeating: mean, count: channels),
                std: [Float](repeating: std, count: channels))
            var out = [Float](repeating: .nan, count: w * h * channels)
            image.pixels.withUnsafeBufferPointer { px in
                out.withUnsafeMutableBufferPointer { o in
                    k.write(
                        pixels: px.baseAddress!, width: image.width, height: image.height,
                        bytesPerRow: image.width * image.channels, format: image.channels == 1 ? .gray8 : .rgb8,
                        into: o.baseAddress!)
                }
            }
            return out
        }
        let g = input(rgb, 72, 72, channels: 1)
        let i = 36 * 72 + 36
        let (r, gr, b) = (Float(rgb.pixels[3 * i]), Float(rgb.pixels[3 * i + 1]), Float(rgb.pixels[3 * i + 2]))
        XCTAssertEqual(g[i], (0.299 * r + 0.587 * gr + 0.114 * b) / 255, accuracy: 1e-6)
        // The same bytes as BGRA give the same gray values.
        var bgra = [UInt8](repeating: 255, count: 72 * 72 * 4)
        for p in 0..<(72 * 72) {
            (bgra[4 * p], bgra[4 * p + 1], bgra[4 * p + 2]) = (
                rgb.pixels[3 * p + 2], rgb.pixels[3 * p + 1], rgb.pixels[3 * p]
            )
        }
        var g2 = [Float](repeating: .nan, count: 72 * 72)
        let k = Kernels.ImageInput(width: 72, height: 72, channels: 1, nchw: true, mean: [0], std: [1])
        bgra.withUnsafeBufferPointer { px in
            g2.withUnsafeMutableBufferPointer {
                k.write(
                    pixels: px.baseAddress!, width: 72, height: 72, bytesPerRow: 72 * 4, format: .bgra8,
                    into: $0.baseAddress!)
            }
        }
        XCTAssertEqual(g2, g)
        // Bilinear resize keeps a ramp a ramp; gray replicated for an RGB model.
        let ramp = Image(width: 4, height: 1, channels: 1, pixels: [0, 10, 20, 30])
        XCTAssertEqual(input(ramp, 2, 1, channels: 1).map { $0 * 255 }, [5, 25])
        XCTAssertEqual(input(ramp, 2, 1, channels: 3).map { $0 * 255 }, [5, 25, 5, 25, 5, 25])
        // Preprocessing to the model's NCHW input: [0, 1], then mean and std.
        var p = CalibrationData.Preprocessing()
        p.mean = [0.5]
        p.std = [0.25]
        let geometry = CalibrationData.InputGeometry(TensorType(.float32, [1, 1, 48, 48]), sourceFormat: "onnx")
        let x = try CalibrationData.prepare(pgm, geometry: geometry, preprocessing: p, source: "pgm")
        XCTAssertEqual(x.count, 48 * 48)
        XCTAssertEqual(x[100], (Float(pgm.pixels[100]) / 255 - 0.5) / 0.25, accuracy: 1e-6)
    }

    /// Cross-layer equalization on the trained mini-Xception with real face crops: every pair is
    /// found and the float model computes what it did. (Its int8 effect depends on the crops: see
    /// docs/benchmarks.md; it is an option, off by default.)
    func testEqualizationKeepsTheFloatModel() throws {
        let model = Repo.path("fixtures/real/fer_mini_xception.onnx")
        let (graph, _) = try ModelLoader.load(path: model, pipeline: QuantizeCommand.pipeline)
        let geometry = CalibrationData.InputGeometry(graph.values[graph.inputs[0]]!.type, sourceFormat: "onnx")
        var p = CalibrationData.Preprocessing()
        p.mean = [0.5]
        p.std = [0.5]
        let crops = try CalibrationData.load(
            Repo.path("fixtures/real/calibration"), geometry: geometry, preprocessing: p)
        let calib = stride(from: 0, to: crops.count, by: 4).map { crops[$0].data }
        let evals = stride(from: 2, to: crops.count, by: 8).map { crops[$0].data }
        var equalized = graph
        let pairs = try ChannelEqualization.apply(&equalized, samples: calib)
        XCTAssertEqual(pairs.count, 13, "\(pairs.map { "\($0.producer)->\($0.consumer)" })")
        let before = try Interpreter(graph: graph), after = try Interpreter(graph: equalized)
        for x in evals.prefix(4) {
            let a = try before.run([graph.inputs[0]: x])[graph.outputs[0]]!
            let b = try after.run([graph.inputs[0]: x])[graph.outputs[0]]!
            XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5)
        }
    }

    /// GPTQ rounding (`ErrorCompensatedRounding`) on one-layer graphs: a padded strided
    /// convolution (dense, grouped, depthwise) and a Gemm with transposed weights and alpha. Every
    /// level is in [-127, 127] with `WeightQuantization.symmetric`'s scales, and the layer's output
    /// error on its calibration inputs (float graph with the dequantized levels, against the float
    /// weights) is well below nearest rounding's.
    func testErrorCompensatedRoundingLowersTheLayersOutputError() throws {
        var rng = SeededRandom(7)
        /// Inputs with correlated neighbours (pixels along a row, and channels), as images and
        /// feature maps have them: H then has off-diagonal terms for the rounding to use.
        func samples(_ count: Int, _ n: Int, channels: Int) -> [[Float]] {
            (0..<count).map { _ in
                var v = rng.floats(n)
                for i in 0..<n {
                    if i >= channels { v[i] += 0.7 * v[i - channels] }
                    if i % channels != 0 { v[i] += 0.4 * v[i - 1] }
                }
                return v
            }
        }
        func layerError(_ g: Graph, _ weights: [Float], _ xs: [[Float]]) throws -> Double {
            var q = g
            q.values["w"]!.constant = .float(weights)
            let a = try Interpreter(graph: g), b = try Interpreter(graph: q)
            var e = 0.0
            for x in xs {
                let want = try a.run(["x": x])["y"]!, got = try b.run(["x": x])["y"]!
                for (u, v) in zip(want, got) { e += Double(u - v) * Double(u - v) }
            }
            return e
        }
        var cases: [(String, Graph)] = []
        for groups in [1, 2, 12] {
            var g = Graph(source: GraphSource(format: "test"))
            g.values["x"] = Value(name: "x", type: TensorType(.float32, [1, 9, 11, 12]))
            g.inputs = ["x"]
            g.addConstant("w", .float(rng.floats(12 * 3 * 3 * (12 / groups))), shape: [12, 3, 3, 12 / groups])
            g.addConstant("b", .float(rng.floats(12)), shape: [12])
            let c = Conv2D(
                kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1,
                groups: groups)
            try g.addNode(Node(name: "conv", op: .conv2D(c), inputs: ["x", "w", "b"], outputs: ["y"]))
            g.outputs = ["y"]
            cases.append(("conv groups \(groups)", g))
        }
        var g = Graph(source: GraphSource(format: "test"))
        g.values["x"] = Value(name: "x", type: TensorType(.float32, [2, 40]))
        g.inputs = ["x"]
        g.addConstant("w", .float(rng.floats(40 * 10)), shape: [40, 10])
        try g.addNode(Node(name: "fc", op: .gemm(Gemm(alpha: 2)), inputs: ["x", "w"], outputs: ["y"]))
        g.outputs = ["y"]
        cases.append(("gemm", g))

        for (label, g) in cases {
            let shape = g.values["x"]!.type.shape
            let xs = samples(24, shape.reduce(1, *), channels: shape.count == 4 ? shape[3] : 5)
            let node = g.nodes[0]
            let r = try ErrorCompensatedRounding.round(g, samples: xs, perTensor: false, skip: [])
            XCTAssertTrue(r.nearest.isEmpty, label)
            let levels = try XCTUnwrap(r.weights[node.name], label).levels
            // The layout Quantizer rounds: OHWI, or the Gemm's [outputs, depth] times alpha.
            var w = g.values["w"]!.constant!.floats
            var isGemm = false
            if case .gemm = node.op { isGemm = true }
            if isGemm { w = transposed2D(w, rows: 40, cols: 10).map { $0 * 2 } }
            let outC = isGemm ? 10 : 12
            let (nearest, q) = WeightQuantization.symmetric(w, slices: outC)
            XCTAssertEqual(levels.count, nearest.count, label)
            XCTAssertTrue(levels.allSatisfy { $0 >= -127 }, label)
            XCTAssertNotEqual(levels, nearest, label)
            let per = w.count / outC
            /// The levels as the float layer's weights (the Gemm's back in [depth, outputs] over alpha).
            func dequantized(_ v: [Int8]) -> [Float] {
                let d = v.indices.map { Float(v[$0]) * q.scales[$0 / per] }
                return isGemm ? transposed2D(d, rows: 10, cols: 40).map { $0 / 2 } : d
            }
            let compensated = try layerError(g, dequantized(levels), xs)
            let rounded = try layerError(g, dequantized(nearest), xs)
            XCTAssertLessThan(compensated, 0.7 * rounded, "\(label): \(compensated) vs nearest \(rounded)")
        }
    }

    /// `--weight-clipping mse`: a channel of 1100 weights in [-0.1, 0.1] and one at 1.0 gets a
    /// scale below max|w| / 127 (8-bit levels make clipping pay only for many weights against a
    /// far outlier: the outlier's clamp costs (1 - r)^2, the finer levels save about n r^2 / 193548)
    /// and a smaller squared rounding error, no larger than any ratio tried; a channel of weights on
    /// the unclipped levels keeps max|w| / 127; the quantizer and GPTQ use the clipped scales.
    func testMSEWeightClippingSearchesEachChannelsScale() throws {
        var rng = SeededRandom(11)
        let per = 1100
        var w = rng.floats(per).map { $0 * 0.1 }
        w[17] = 1
        w += (0..<per).map { Float($0 % 255 - 127) / 127 }  // exactly on the unclipped levels
        func error(_ v: [Int8], _ scale: Float, _ range: Range<Int>) -> Double {
            range.reduce(0.0) { e, i in
                let d = Double(w[i] - Float(v[i]) * scale)
                return e + d * d
            }
        }
        let (plain, pq) = WeightQuantization.symmetric(w, slices: 2)
        let (clipped, cq) = WeightQuantization.symmetric(w, slices: 2, clipping: .mse)
        XCTAssertEqual(pq.scales[0], 1 / 127)
        XCTAssertLessThan(cq.scales[0], pq.scales[0])
        XCTAssertLessThan(error(clipped, cq.scales[0], 0..<per), error(plain, pq.scales[0], 0..<per))
        for r in stride(from: Float(1), through: 0.5, by: -0.01) {
            let c = r / 127
            let v = (0..<per).map { Int8(min(max((w[$0] / c).rounded(), -127), 127)) }
            XCTAssertLessThanOrEqual(
                error(clipped, cq.scales[0], 0..<per), error(v, c, 0..<per) * (1 + 1e-9), "ratio \(r)")
        }
        XCTAssertEqual(cq.scales[1], pq.scales[1])
        XCTAssertEqual(Array(clipped[per...]), Array(plain[per...]))
        XCTAssertTrue(clipped.allSatisfy { $0 >= -127 })
        // The quantizer and GPTQ use the clipped scales.
        var g = Graph(source: GraphSource(format: "test"))
        g.values["x"] = Value(name: "x", type: TensorType(.float32, [1, 2, 2, per]))
        g.inputs = ["x"]
        g.addConstant("w", .float(w), shape: [2, 1, 1, per])
        try g.addNode(
            Node(name: "conv", op: .conv2D(Conv2D(kernelH: 1, kernelW: 1)), inputs: ["x", "w"], outputs: ["y"]))
        g.outputs = ["y"]
        var options = QuantizeOptions()
        options.weightClipping = .mse
        options.floatOutputLayer = false
        let ranges = ["x": (Float(-1), Float(1)), "y": (Float(-30), Float(30))]
        let q = try Quantizer.quantize(g, ranges: ranges, options: options).graph
        XCTAssertEqual(q.values["w#q"]?.type.quantization?.scales, cq.scales)
        XCTAssertEqual(q.values["w#q"]?.constant, .int8(clipped))
        let xs = (0..<8).map { _ in rng.floats(4 * per) }
        let r = try ErrorCompensatedRounding.round(g, samples: xs, perTensor: false, clipping: .mse, skip: [])
        let rounded = try XCTUnwrap(r.weights["conv"])
        let levels = rounded.levels
        XCTAssertEqual(rounded.quantization.scales, cq.scales)
        XCTAssertNotEqual(levels, clipped)
        // The quantizer stores GPTQ's levels with the scales they were rounded on, without a
        // search of its own (here it would search none: its own scales would be unclipped).
        options.roundedWeights = r.weights
        options.weightClipping = .none
        let gq = try Quantizer.quantize(g, ranges: ranges, options: options).graph
        XCTAssertEqual(gq.values["w#q"]?.type.quantization?.scales, cq.scales)
        XCTAssertEqual(gq.values["w#q"]?.constant, .int8(levels))
        // At the clipped scale the levels reconstruct the weights about as well as nearest
        // rounding does, and they are not the levels GPTQ picks for the unclipped scales.
        XCTAssertLessThan(error(levels, cq.scales[0], 0..<per), 4 * error(clipped, cq.scales[0], 0..<per))
        let unclipped = try ErrorCompensatedRounding.round(g, samples: xs, perTensor: false, skip: [])
        XCTAssertNotEqual(unclipped.weights["conv"].map { Array($0.levels[..<per]) }, Array(levels[..<per]))
        XCTAssertEqual(unclipped.weights["conv"].map { Array($0.levels[per...]) }, Array(levels[per...]))
    }

    func testFER2013CSVAndUsageFilter() throws {
        let all = try FER2013.read(Self.images + "/fer2013_sample.csv", usage: nil, limit: nil)
        XCTAssertEqual(all.map(\.label), ["happy", "sad", "neutral", "happy", "sad", "neutral"])
        let test = try FER2013.read(Self.images + "/fer2013_sample.csv", usage: "PublicTest", limit: nil)
        XCTAssertEqual(test.count, 3)
        XCTAssertEqual(test[0].line, 5)
    }

    /// The CSV parser's details: line ends, spaces, tabs, leading zeros, and each bad row a one-line error.
    func testFER2013ParsingDetails() throws {
        let pixels = (0..<2304).map { String($0 % 256) }.joined(separator: " ")
        let text = "Emotion , PIXELS,usage\r3,\t\(pixels)  ,Training\r\n\n0, 000\(pixels.dropFirst()),PublicTest\n"
        let rows = try FER2013.parse(text, source: "t.csv", usage: nil, limit: nil)
        XCTAssertEqual(rows.map(\.label), ["happy", "angry"])
        XCTAssertEqual(rows.map(\.line), [2, 4])
        XCTAssertEqual(rows[0].image.pixels, (0..<2304).map { UInt8($0 % 256) })
        XCTAssertEqual(rows[1].image.pixels, rows[0].image.pixels)
        XCTAssertEqual(try FER2013.parse(text, source: "t.csv", usage: "publictest", limit: nil).map(\.line), [4])
        XCTAssertEqual(try FER2013.parse(text, source: "t.csv", usage: nil, limit: 1).count, 1)
        XCTAssertEqual(try FER2013.parse("", source: "t.csv", usage: nil, limit: nil).count, 0)
        let header = "emotion,pixels\n"
        let bad: [(String, String)] = [
            ("x,y\n", "t.csv:1: not a FER2013 CSV"),
            (header + "7,\(pixels)", "t.csv:2: emotion '7' is not a class index 0-6"),
            (header + "1,\(pixels) 4", "t.csv:2: has 2305 pixels"),
            (
                header + "\n1,256 \(pixels.split(separator: " ").dropFirst().joined(separator: " "))",
                "t.csv:3: pixel 1 is '256', not 0-255"
            ),
            (header + "1,0 -1\(pixels.dropFirst(3))", "t.csv:2: pixel 2 is '-1', not 0-255"),
            (header + "1", "t.csv:2: has 1 columns, expected 2")
        ]
        for (csv, expected) in bad {
            do {
                _ = try FER2013.parse(csv, source: "t.csv", usage: nil, limit: nil)
                XCTFail("no error for \(csv.prefix(40))")
            } catch let e as FerccError {
                XCTAssertTrue(e.description.contains(expected), e.description)
                XCTAssertFalse(e.description.contains("\n"))
            }
        }
        XCTAssertThrowsError(try FER2013.parse(header, source: "t.csv", usage: "Training", limit: nil)) {
            XCTAssertTrue("\($0)".contains("t.csv:1: --usage: the CSV has no Usage column"), "\($0)")
        }
    }

    /// A symbolic link to a calibration folder lists what the folder does, labels included.
    func testCalibrationFolderThroughASymbolicLink() throws {
        let dir = try temporaryDirectory()
        let link = dir.appendingPathComponent("faces").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Self.images + "/faces")
        let direct = try CalibrationData.files(Self.images + "/faces")
        XCTAssertEqual(direct.count, 12)
        XCTAssertEqual(
            try CalibrationData.files(link), direct.map { link + $0.dropFirst((Self.images + "/faces").count) })
        let geometry = CalibrationData.InputGeometry(TensorType(.float32, [1, 1, 48, 48]), sourceFormat: "onnx")
        let samples = try CalibrationData.load(link, geometry: geometry, preprocessing: .init())
        XCTAssertEqual(samples.map(\.label), direct.map { $0.split(separator: "/").dropLast().last.map(String.init) })
    }

    /// Each bad calibration input: a one-line error naming the file, and nothing written.
    func testBadCalibrationDataErrors() throws {
        let dir = try temporaryDirectory()
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let cases: [(String, String)] = [
            (Self.images + "/bad/corrupt.png", "corrupt PNG"),
            (Self.images + "/bad/text.jpg", "is not a JPEG file"),
            (empty.path, "no calibration data"),
            (Self.images + "/bad/short_row.csv", "has 100 pixels"),
            (dir.appendingPathComponent("missing").path, "no such file")
        ]
        for (path, expected) in cases {
            let out = dir.appendingPathComponent("out").path
            XCTAssertThrowsError(
                try QuantizeCommand.run(
                    model: Self.fer, calibration: path, outputDirectory: out,
                    codegen: CodegenOptions(name: "Q"), bench: false, options: QuantizeCommand.Options())
            ) { e in
                let text = (e as? FerccError)?.description ?? "\(e)"
                XCTAssertTrue(text.contains(expected), text)
                XCTAssertTrue(text.contains(path), "names the file: \(text)")
                XCTAssertFalse(text.contains("\n"), "one line: \(text)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing half-written")
        }
    }

    /// A constant or all-zero tensor must get a finite, positive scale.
    func testDegenerateRangesGiveFiniteScales() throws {
        for r: (Float, Float) in [(0, 0), (3, 3), (-2, -2), (0, 1e-30), (-1, 1)] {
            let q = Quantizer.activationQuantization((r.0, r.1))
            XCTAssertTrue(q.scale.isFinite && q.scale > 0, "\(r) -> \(q)")
            XCTAssertTrue((-128...127).contains(q.zeroPoint), "\(r) -> \(q)")
            // 0 is exactly representable.
            XCTAssertEqual(Float(q.zeroPoint), (0 / q.scale).rounded() + Float(q.zeroPoint))
        }
        // Calibrating on all-zero inputs: every quantized tensor's scale is finite.
        let (graph, _) = try ModelLoader.load(
            path: Self.fer,
            pipeline: ["to-nhwc", "fold-batchnorm", "fold-constants", "fuse-activation", "eliminate-dead-code"])
        let zeros = [[Float]](repeating: [Float](repeating: 0, count: 48 * 48), count: 2)
        let stats = try Calibrator.collect(graph, samples: zeros, method: .minmax)
        let (q, _) = try Quantizer.quantize(
            graph, ranges: stats.mapValues { $0.range(.minmax, percentile: 99.99) }, options: QuantizeOptions())
        for v in q.values.values {
            for s in v.type.quantization?.scales ?? [] { XCTAssertTrue(s.isFinite && s > 0, "\(v.name): \(s)") }
        }
        let out = try Interpreter(graph: q).run([q.inputs[0]: zeros[0]])
        XCTAssertTrue(out.values.first!.allSatisfy { $0.isFinite })
    }

    /// Two convolutions of different ranges joined by a Concat, then a global mean pool, a Reshape
    /// and a classifier: each joined value takes the Concat's quantization (the producers
    /// requantize straight into it, nothing is rescaled), and the pool stays float with the
    /// classifier (its int8 output was the largest error before it).
    func testConcatenatedValuesShareTheJoinAndThePoolStaysFloat() throws {
        var rng = SeededRandom(7)
        var g = Graph(source: GraphSource(format: "test"))
        g.values["x"] = Value(name: "x", type: TensorType(.float32, [1, 4, 4, 3]))
        g.inputs = ["x"]
        func constant(_ name: String, _ shape: [Int], scale: Float = 1) -> String {
            g.addConstant(name, .float(rng.floats(shape.reduce(1, *)).map { $0 * scale }), shape: shape)
            return name
        }
        for (name, scale) in [("a", Float(1)), ("b", 5)] {
            try g.addNode(
                Node(
                    name: name, op: .conv2D(Conv2D(kernelH: 1, kernelW: 1, activation: .relu)),
                    inputs: ["x", constant(name + ".w", [4, 1, 1, 3], scale: scale), constant(name + ".b", [4])],
                    outputs: [name]))
        }
        try g.addNode(Node(name: "join", op: .concat(axis: 3), inputs: ["a", "b"], outputs: ["c"]))
        try g.addNode(
            Node(name: "pool", op: .reduce(.mean, axes: [1, 2], keepDims: true), inputs: ["c"], outputs: ["m"]))
        try g.addNode(Node(name: "flat", op: .reshape(shape: [1, 8]), inputs: ["m"], outputs: ["f"]))
        try g.addNode(
            Node(
                name: "fc", op: .gemm(Gemm(transB: true)),
                inputs: ["f", constant("fc.w", [7, 8]), constant("fc.b", [7])],
                outputs: ["y"]))
        g.outputs = ["y"]
        try g.validate()
        XCTAssertEqual(Quantizer.outputLayers(g), ["fc", "pool"])

        let samples = (0..<8).map { _ in rng.floats(48) }
        let stats = try Calibrator.collect(g, samples: samples, method: .minmax)
        let ranges = stats.mapValues { $0.range(.minmax, percentile: 99.99) }
        XCTAssertLessThan(ranges["a"]!.hi * 2, ranges["b"]!.hi, "the two joined values need different ranges")
        let (q, floatNodes) = try Quantizer.quantize(g, ranges: ranges, options: QuantizeOptions())
        let joined = q.values["c#q"]!.type.quantization!
        XCTAssertEqual(joined, Quantizer.activationQuantization(ranges["c"]!))
        XCTAssertEqual(q.values["a#q"]!.type.quantization, joined)
        XCTAssertEqual(q.values["b#q"]!.type.quantization, joined)
        XCTAssertEqual(Set(floatNodes), ["pool", "flat", "fc"])
        let float = try Interpreter(graph: g), int8 = try Interpreter(graph: q)
        for x in samples.prefix(3) {
            let a = try float.run(["x": x])["y"]!, b = try int8.run(["x": x])["y"]!
            XCTAssertLessThanOrEqual(relativeError(b, a), 0.02)
        }
    }

    /// A model with two outputs (the real face detector: box regressors and scores) quantizes:
    /// the accuracy report has each output's numbers, and the int8 graph finds the face where the
    /// float one does, with its box within a few pixels.
    func testQuantizeTwoOutputDetector() throws {
        let real = Repo.path("fixtures/real")
        let input = try NPY.read(path: real + "/grace_hopper.detector_in.npy")
        XCTAssertEqual(input.shape, [1, 128, 128, 3])
        // Calibration: the portrait as is and mirrored (values in [-1, 1]; more samples cost test time).
        let dir = try temporaryDirectory()
        let calib = dir.appendingPathComponent("calib")
        try FileManager.default.createDirectory(at: calib, withIntermediateDirectories: true)
        var mirrored = input.data
        for y in 0..<128 {
            for x in 0..<128 {
                for c in 0..<3 { mirrored[(y * 128 + x) * 3 + c] = input.data[(y * 128 + 127 - x) * 3 + c] }
            }
        }
        for (i, v) in [input.data, mirrored].enumerated() {
            try NPY.write(.init(shape: input.shape, data: v), to: calib.appendingPathComponent("\(i).npy").path)
        }
        var options = QuantizeCommand.Options()
        options.holdout = 0
        let result = try QuantizeCommand.run(
            model: real + "/face_detection_short_range.tflite", calibration: calib.path,
            outputDirectory: dir.appendingPathComponent("q").path, codegen: CodegenOptions(name: "DetectorInt8"),
            bench: false, options: options)
        let a = result.accuracy
        XCTAssertEqual(a.outputs.map(\.name), ["regressors", "classificators"])
        XCTAssertEqual(a.samples, 2)
        XCTAssertTrue(a.float_nodes.isEmpty, "\(a.float_nodes)")
        XCTAssertEqual(a.max_abs_error, a.outputs.map(\.max_abs_error).max())
        XCTAssertTrue(a.text().contains("output classificators: top-1 agreement"), a.text())
        // fercc's own int8 arithmetic (its 16 residual adds requantize in float32), and said so.
        XCTAssertEqual(result.graph.int8Arithmetic, .fercc)
        XCTAssertEqual(a.int8_arithmetic, "fercc")
        XCTAssertTrue(
            a.text().contains(
                "int8 arithmetic: fercc's (adds, subtracts, convolutions and fully connected layers requantized in float32"
            ), a.text())
        // The strongest anchor of the float model (the face) is a face for the int8 one too.
        let g = result.graph
        let got = try Interpreter(graph: g).run([g.inputs[0]: input.data])
        let scores = try NPY.read(path: real + "/grace_hopper.classificators.npy").data
        let boxes = try NPY.read(path: real + "/grace_hopper.regressors.npy").data
        let face = argmax(scores)
        XCTAssertGreaterThan(scores[face], 0)
        let q = try XCTUnwrap(got[g.outputs[1]]), qb = try XCTUnwrap(got[g.outputs[0]])
        XCTAssertGreaterThan(q[face], 0, "int8 score \(q[face]) where float has \(scores[face])")
        for k in 0..<4 {
            XCTAssertEqual(qb[face * 16 + k], boxes[face * 16 + k], accuracy: 3, "box coordinate \(k)")
        }
    }

    /// The FER fixture quantized from the image folder: int8 close to float, weights about 4x
    /// smaller, per-layer SQNR listed, every method works; the generated int8 Swift gives the
    /// interpreter's outputs.
    func testQuantizeFERModelFromImages() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("q").path
        var options = QuantizeCommand.Options()
        options.holdout = 0.25
        let result = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.images + "/faces", outputDirectory: out,
            codegen: CodegenOptions(name: "FERInt8"), bench: false, options: options)
        let a = result.accuracy
        XCTAssertEqual(a.samples, 3)
        XCTAssertEqual(a.evaluated_on, "held-out")
        XCTAssertEqual(a.top1_agreement, 1)
        XCTAssertLessThan(a.mean_abs_error, 0.01)
        XCTAssertLessThan(Double(a.weight_bytes_int8) / Double(a.weight_bytes_fp32), 0.4)
        XCTAssertGreaterThan(a.layers.count, 10)
        XCTAssertEqual(a.layers.map(\.sqnr_db), a.layers.map(\.sqnr_db).sorted(), "worst first")
        XCTAssertTrue(a.layers.allSatisfy { $0.sqnr_db > 15 }, "\(a.layers.prefix(3))")
        for f in [
            "FERInt8.swift", "FERInt8+Weights.swift", "report.json", "report.html", "accuracy.json", "accuracy.txt",
            "accuracy.html"
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }
        for method in CalibrationMethod.allCases where method != .minmax {
            var o = QuantizeCommand.Options()
            o.quantize.method = method
            let r = try QuantizeCommand.run(
                model: Self.fer, calibration: Self.images + "/faces",
                outputDirectory: dir.appendingPathComponent(method.rawValue).path,
                codegen: CodegenOptions(name: "M"), bench: false, options: o)
            XCTAssertTrue(r.accuracy.mean_abs_error.isFinite, method.rawValue)
        }
        // --exclude keeps a node float; an unknown name is an error.
        var ex = QuantizeCommand.Options()
        ex.quantize.exclude = ["block1/sep1/depthwise"]
        let r = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.images + "/faces",
            outputDirectory: dir.appendingPathComponent("ex").path,
            codegen: CodegenOptions(name: "E"), bench: false, options: ex)
        XCTAssertTrue(r.accuracy.float_nodes.contains("block1/sep1/depthwise"))
        // --fallback-sqnr: the layers under the threshold (measured above) come back float.
        var fb = QuantizeCommand.Options()
        fb.holdout = 0.25
        let threshold = a.layers[a.layers.count / 2].sqnr_db
        fb.fallbackSQNR = threshold
        let fallback = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.images + "/faces",
            outputDirectory: dir.appendingPathComponent("fb").path,
            codegen: CodegenOptions(name: "F"), bench: false, options: fb)
        for l in a.layers where l.sqnr_db < threshold {
            XCTAssertTrue(fallback.accuracy.float_nodes.contains(l.node), l.node)
        }
        XCTAssertGreaterThan(
            fallback.accuracy.weight_bytes_int8, a.weight_bytes_int8, "float layers keep float weights")
        ex.quantize.exclude = ["no/such/node"]
        XCTAssertThrowsError(
            try QuantizeCommand.run(
                model: Self.fer, calibration: Self.images + "/faces",
                outputDirectory: dir.appendingPathComponent("ex2").path,
                codegen: CodegenOptions(name: "E"), bench: false, options: ex))

        // The generated code against the interpreter on the same int8 graph: compile and compare.
        let input = try CalibrationData.load(
            Self.images + "/faces/sad/sad_0.png",
            geometry: CalibrationData.InputGeometry(TensorType(.float32, [1, 1, 48, 48]), sourceFormat: "onnx"),
            preprocessing: CalibrationData.Preprocessing())[0].data
        let got = try compileAndPredict(generated: out, name: "FERInt8", input: input, in: dir)
        let want = try Interpreter(graph: result.graph).run([result.graph.inputs[0]: input]).values.first!
        XCTAssertEqual(got.count, 7)
        XCTAssertEqual(got, want, "generated int8 code and the interpreter run the same kernels")
        // fercc's arithmetic scales the convolutions' accumulators in float (the scales stored with
        // the weights); `--int8-arithmetic tflite` keeps TFLite's fixed point (none stored).
        let source = try String(contentsOfFile: out + "/FERInt8.swift", encoding: .utf8)
        XCTAssertTrue(source.contains("scales: f32(weights + "), "float scaling in the generated code")
        var fixed = QuantizeCommand.Options()
        fixed.quantize.arithmetic = .tflite
        _ = try QuantizeCommand.run(
            model: Self.fer, calibration: Self.images + "/faces", outputDirectory: dir.appendingPathComponent("t").path,
            codegen: CodegenOptions(name: "T"), bench: false, options: fixed)
        let fixedSource = try String(contentsOfFile: dir.appendingPathComponent("t/T.swift").path, encoding: .utf8)
        XCTAssertTrue(fixedSource.contains("multipliers: i32(weights + "))
        XCTAssertFalse(fixedSource.contains("scales: f32("), "TFLite's arithmetic stores no float scales")
        // The generated code fuses the int8 depthwise+pointwise pairs; so can the interpreter: same outputs.
        XCTAssertGreaterThan(result.report.passes.last { $0.name == "fuse-depthwise-pointwise" }?.changes ?? 0, 0)
        var fused = result.graph
        XCTAssertGreaterThan(try PassManager.run(&fused, pipeline: ["fuse-depthwise-pointwise"])[0].changes, 0)
        XCTAssertEqual(try Interpreter(graph: fused).run([fused.inputs[0]: input]).values.first!, want)
        XCTAssertEqual(got.reduce(0, +), 1, accuracy: 1e-4, "softmax output")

        // fercc evaluate on the labelled image folder: the fixture's untrained weights predict one
        // class for every face, so only the bookkeeping is checked (counts, confusion, agreement).
        let e = try EvaluateCommand.run(
            model: Self.fer, data: Self.images + "/faces", labels: nil, quantized: out,
            preprocessing: CalibrationData.Preprocessing(), limit: nil)
        XCTAssertEqual(e.samples, 12)
        XCTAssertEqual(e.labels, FER2013.labels)
        XCTAssertEqual(e.models.count, 2)
        for m in e.models {
            XCTAssertEqual(m.confusion.flatMap { $0 }.reduce(0, +), 12)
            XCTAssertEqual(m.confusion[3].reduce(0, +), 4, "4 happy faces")
            let correct = (0..<7).map { m.confusion[$0][$0] }.reduce(0, +)
            XCTAssertEqual(m.top1_accuracy, Double(correct) / 12)
        }
        XCTAssertEqual(e.agreement, 1, "int8 predicts fp32's class on every face")
        XCTAssertEqual(
            try EvaluateCommand.run(
                model: Self.fer, data: Self.images + "/fer2013_sample.csv", labels: nil, quantized: nil,
                preprocessing: {
                    var p = CalibrationData.Preprocessing(); p.usage = "PublicTest"; return p
                }(), limit: nil
            ).samples, 3)
        XCTAssertThrowsError(
            try EvaluateCommand.run(
                model: Self.fer, data: Self.images + "/faces", labels: ["a", "b", "c", "d", "e", "f", "g"],
                quantized: nil, preprocessing: CalibrationData.Preprocessing(), limit: nil)
        ) {
            XCTAssertTrue("\($0)".contains("is not one of the labels"), "\($0)")
        }
    }
}

/// ONNX QDQ models as onnxruntime's quantize_static writes them (s8s8 and u8s8, per-channel
/// weights): imported, folded into int8 ops, within one output step of onnxruntime, and compiled.
final class QDQTests: XCTestCase {
    static let dir = Repo.path("fixtures/qdq")

    func testQDQModelsRunInt8AndMatchOnnxRuntime() throws {
        for name in ["fer_mini_xception", "inverted_residual_block"] {
            for tag in ["s8s8", "u8s8"] {
                let path = "\(Self.dir)/\(name).\(tag).onnx"
                let (graph, results) = try ModelLoader.load(
                    path: path, pipeline: FerccPasses.PassManager.defaultPipeline)
                XCTAssertGreaterThan(results.first { $0.name == "fold-qdq" }?.changes ?? 0, 0, path)
                let int8Convs = graph.nodes.filter { n in
                    if case .conv2D = n.op { return graph.values[n.outputs[0]]?.type.dtype == .int8 }
                    return false
                }
                let convs = graph.nodes.filter { if case .conv2D = $0.op { return true } else { return false } }
                XCTAssertEqual(int8Convs.count, convs.count, "\(path): every convolution runs in int8")
                XCTAssertEqual(graph.int8Arithmetic, .tflite, "\(path): an imported int8 model computes as TFLite")
                let x = try NPY.read(path: "\(Self.dir)/\(name).\(tag).in0.npy").data
                let ref = try NPY.read(path: "\(Self.dir)/\(name).\(tag).out0.npy").data
                let got = try Interpreter(graph: graph).run([graph.inputs[0]: x]).values.first!
                // The model's own semantics: its float ops between the Q/DQ pairs, unfolded.
                let unfolded = try ModelLoader.load(path: path, pipeline: [])
                let simulated = try Interpreter(graph: unfolded.0).run([unfolded.0.inputs[0]: x]).values.first!
                // One step of the last QuantizeLinear: fercc requantizes in TFLite's fixed point,
                // the simulation and onnxruntime in float, so single elements may differ by a step.
                let step: Float = name == "fer_mini_xception" ? 1.0 / 255 : 0.0296
                XCTAssertLessThanOrEqual(
                    zip(got, simulated).map { abs($0 - $1) }.max() ?? .infinity, step * 1.01,
                    "\(path) vs its float simulation")
                // onnxruntime's u8s8 kernels on AVX2 without VNNI add u8 x s8 pairs in saturating
                // 16-bit arithmetic (its documentation says so), so only s8s8 is held to one step.
                if tag == "s8s8" {
                    XCTAssertLessThanOrEqual(
                        zip(got, ref).map { abs($0 - $1) }.max() ?? .infinity, step * 1.01, "\(path) vs onnxruntime")
                }
            }
        }
    }

    func testQDQModelConvertsToInt8Swift() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("g").path
        let path = "\(Self.dir)/fer_mini_xception.u8s8.onnx"
        _ = try ConvertCommand.convert(
            model: path, outputDirectory: out, options: CodegenOptions(name: "QDQ"), bench: false)
        let x = try NPY.read(path: "\(Self.dir)/fer_mini_xception.u8s8.in0.npy").data
        let (graph, _) = try ModelLoader.load(path: path, pipeline: FerccPasses.PassManager.defaultPipeline)
        let want = try Interpreter(graph: graph).run([graph.inputs[0]: x]).values.first!
        let got = try compileAndPredict(generated: out, name: "QDQ", input: x, in: dir)
        XCTAssertEqual(got, want)
    }
}
