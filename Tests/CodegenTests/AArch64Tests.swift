import Fercc
import FerccIR
import FerccLowering
import FerccPasses
import FerccRuntime
import FerccTestSupport
import Foundation
import XCTest

@testable import FerccCodegen

/// Generated code for `--target arm64`, cross-compiled with Embedded Swift and run under
/// `qemu-aarch64 -cpu cortex-a76` (see `compileAndRunAArch64`): what phones run, checked on every
/// test run. One binary per test holds many fixture models (one class each).
final class AArch64Tests: XCTestCase {
    struct ONNXIndex: Decodable {
        struct Binding: Decodable { var name: String; var file: String }
        struct Case: Decodable { var name: String; var model: String; var inputs: [Binding]; var outputs: [Binding] }
        var cases: [Case]
    }

    /// A model to run on AArch64: its input, and the reference its output is held to.
    struct Check {
        var path: String
        var input: RuntimeTensor
        var reference: RuntimeTensor
        var tolerance: Float  // relative (max(1, max|ref|)); 0: bit for bit
    }

    /// Float ONNX fixtures of every op family (convolutions of each form, the fused MobileNet and
    /// ShuffleNet blocks, pooling, Gemm/MatMul, resize, activations, element-wise, data movement)
    /// and the small mini-Xception: within 1e-4 of onnxruntime.
    func testFloatModelsMatchOnnxRuntimeOnAArch64() throws {
        let names = [
            "conv_3x3_pad_bias", "conv_3x3_winograd_relu", "conv_stride2_asym_pads_nobias",
            "conv_depthwise_5x5_dilated", "conv_depth_multiplier",
            "conv_grouped", "conv_pointwise_wide", "conv_batch2_rect_kernel", "inverted_residual_block",
            "shufflenet_unit", "squeeze_excitation_block", "fer_mini_xception_small", "avgpool_ceil_include_pad",
            "maxpool_3x3_s2_p1", "global_average_pool", "gemm_transB_bias", "matmul_2d",
            "resize_linear_half_pixel", "resize_nearest_asymmetric_floor", "softmax_opset13_axis1", "hard_swish",
            "gelu_erf", "prelu_per_channel", "leaky_relu", "div_last_axis", "expand_spatial", "pad_inputs_opset13",
            "add_channel_broadcast",
            "transpose_perm", "slice_steps_negative", "reduce_mean_axes_attr"
        ]
        let index = try JSONDecoder().decode(
            ONNXIndex.self, from: Data(contentsOf: URL(fileURLWithPath: Repo.fixtures + "/index.json")))
        var checks: [Check] = []
        for name in names {
            let c = try XCTUnwrap(index.cases.first { $0.name == name }, name)
            XCTAssertEqual(c.inputs.count, 1, name)
            checks.append(
                Check(
                    path: Repo.fixtures + "/" + c.model,
                    input: try NPY.read(path: Repo.fixtures + "/" + c.inputs[0].file).tensor,
                    reference: try NPY.read(path: Repo.fixtures + "/" + c.outputs[0].file).tensor, tolerance: 1e-4))
        }
        try run(checks)
    }

    /// Every single-input int8 TFLite fixture (raw int8 outputs equal to LiteRT's reference
    /// kernels bit for bit, as on x86), the dynamic-range ones (within 1e-4 of LiteRT) and the
    /// onnxruntime QDQ models (the interpreter's outputs: int8 all through, then dequantized), for
    /// ARMv8.0 (`arm64`, portable kernels) and ARMv8.2 with the dot product (`arm64-dotprod`).
    func testQuantizedModelsMatchOnAArch64() throws {
        let index = try TFLiteFixtureIndex.load()
        let dir = TFLiteFixtureIndex.directory
        var checks: [Check] = []
        for c in index.cases where c.inputs.count == 1 && c.outputs.count == 1 {
            let int8 = c.name.hasPrefix("int8_")
            guard int8 || c.name.hasPrefix("hybrid_") || c.name.hasPrefix("layers_dynamic_range") else { continue }
            checks.append(
                Check(
                    path: dir + "/" + c.model, input: try NPY.read(path: dir + "/" + c.inputs[0].file).tensor,
                    reference: try NPY.read(path: dir + "/" + c.outputs[0].file).tensor, tolerance: int8 ? 0 : 1e-4))
        }
        XCTAssertGreaterThanOrEqual(checks.count, 20)
        for name in ["fer_mini_xception.s8s8", "inverted_residual_block.u8s8"] {
            let path = Repo.path("fixtures/qdq/\(name).onnx")
            let x = try NPY.read(path: Repo.path("fixtures/qdq/\(name).in0.npy")).data
            let (graph, _) = try ModelLoader.load(path: path, pipeline: PassManager.defaultPipeline)
            let want = try Interpreter(graph: graph).run([graph.inputs[0]: x])[graph.outputs[0]]!
            // The float tail after the last int8 op (a softmax) may round differently with AArch64's
            // fused multiply-adds: 1e-6, a hundredth of an int8 step.
            checks.append(Check(path: path, input: .float(x), reference: .float(want), tolerance: 1e-6))
        }
        for target in [Target.arm64, .arm64_dotprod] { try run(checks, target: target) }
    }

    /// The int8 regular and depthwise convolution kernels themselves (whichever variants the
    /// build picks: `sdot` and NEON on `arm64-dotprod`, portable and NEON on `arm64`) against
    /// TFLite's arithmetic written out naively, on 300 and 200 seeded random layers: 1 to 40
    /// channels (1-channel stems, partial blocks, a 1-in 1-out 3x3), kernels 1 to 3, strides,
    /// dilation, padding, batch 2, per-tensor and per-channel multipliers with left and right
    /// shifts, zero points, ReLU clamps, weights at +-127 and at -128 (two -128 taps overflow the
    /// int16 pair sums of the NEON 3x3 depthwise path, which must fall back); a quarter of them
    /// with fercc's float scaling (`QuantizedMath.scaleInFloat`, ties included); and 64 guard
    /// bytes after each output.
    func testInt8ConvolutionKernelsOnAArch64() throws {
        let dir = try temporaryDirectory()
        let kernels = Repo.path("Sources/FerccKernels")
        let sources = try FileManager.default.subpathsOfDirectory(atPath: kernels).filter { $0.hasSuffix(".swift") }
            .sorted().map { kernels + "/" + $0 }
        for target in [Target.arm64, .arm64_dotprod] {
            let printed = try compileAndRunAArch64(
                sources: sources, main: Self.convolutionCheck, in: dir, flags: target.swiftcFlags)
            XCTAssertTrue(
                printed.contains("int8 convolutions (300 dense, 200 depthwise): 500 cases, 0 mismatches")
                    && printed.contains("int8 binary: 300 cases, 0 mismatches"),
                "\(target.rawValue): \(printed)")
        }
    }

    static let convolutionCheck = #"""

        var state: UInt64 = 0x1234_5678
        func next() -> Int {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
        }
        func pick(_ r: ClosedRange<Int>) -> Int { r.lowerBound + next() % (r.upperBound - r.lowerBound + 1) }

        var failures = 0, cases = 0
        for trial in 0..<500 {
            let depthwise = trial >= 300
            let inC = trial == 1 ? 1 : trial % 7 == 0 ? pick(1...3) : pick(1...40)
            let outC = depthwise ? inC : trial == 1 ? 1 : pick(1...40)
            let k = trial == 1 ? 3 : pick(1...3), s = pick(1...2), d = k > 1 && trial % 5 == 0 ? 2 : 1
            let pad = trial % 3 == 0 ? 0 : pick(0...2)
            let h = pick(k...9) + d * (k - 1), w = pick(1...11) + d * (k - 1), batch = trial % 11 == 0 ? 2 : 1
            let outH = (h + 2 * pad - d * (k - 1) - 1) / s + 1, outW = (w + 2 * pad - d * (k - 1) - 1) / s + 1
            let g = Kernels.Conv2DGeometry(
                input: (batch, h, w, inC), output: (outH, outW, outC), kernel: (k, k), stride: (s, s),
                dilation: (d, d), pads: (pad, pad, pad, pad), groups: depthwise ? inC : 1)
            let cig = depthwise ? 1 : inC
            let weights = (0..<(outC * k * k * cig)).map { _ in
                Int8(
                    truncatingIfNeeded: trial % 4 == 0
                        ? (next() % 2 == 0 ? 127 : -127) : trial % 4 == 2 ? (next() % 3 == 0 ? 127 : -128) : pick(-128...127))
            }
            let bias = (0..<outC).map { _ in Int32(pick(-20000...20000)) }
            let input = (0..<(batch * h * w * inC)).map { _ in Int8(truncatingIfNeeded: pick(-128...127)) }
            let n = trial % 2 == 0 ? outC : 1
            let multipliers = (0..<n).map { _ in Int32(pick((1 << 30)...Int(Int32.max))) }
            let shifts = (0..<n).map { _ in trial % 9 == 0 ? pick(0...3) : pick(-14...(-4)) }
            let zpIn = Int32(pick(-128...127)), zpOut = Int32(pick(-128...127))
            // Every fourth layer scales in float (graphs fercc quantized), with the same real
            // multipliers; every eighth of those at 2^-k, where sums land on rounding ties.
            let floatScales: [Float]? =
                trial % 4 != 3
                ? nil
                : (0..<n).map { i in
                    trial % 8 == 7
                        ? Float(sign: .plus, exponent: -pick(1...6), significand: 1)
                        : Float(Double(multipliers[i]) * Double(sign: .plus, exponent: shifts[i] - 31, significand: 1))
                }
            let rq = Kernels.Requantization(
                multipliers: multipliers, shifts: shifts, floatScales: floatScales, outputZeroPoint: zpOut,
                min: trial % 3 == 1 ? zpOut : -128, max: 127)
            let p = Kernels.QuantizedConvParameters(geometry: g, weights: weights, bias: bias, inputZeroPoint: zpIn, requantization: rq)
            let dense = depthwise ? nil : Kernels.QuantizedDenseConv2DKernel(p)
            let dw = depthwise ? Kernels.QuantizedDepthwiseConv2DKernel(p) : nil
            let scratchBytes = dense?.scratchBytes ?? dw!.scratchBytes
            let count = batch * outH * outW * outC
            var got = [Int8](repeating: 0x5A, count: count + 64)
            let scratch = Kernels.allocateZeroed(byteCount: Swift.max(scratchBytes, 64))!
            input.withUnsafeBufferPointer { x in
                got.withUnsafeMutableBufferPointer {
                    if let dense { dense.run(input: x.baseAddress!, output: $0.baseAddress!, scratch: scratch) }
                    else { dw!.run(input: x.baseAddress!, output: $0.baseAddress!, scratch: scratch) }
                }
            }
            scratch.deallocate()
            var bad = got[count...].contains { $0 != 0x5A }
            for b in 0..<batch { for oy in 0..<outH { for ox in 0..<outW { for oc in 0..<outC {
                var acc: Int32 = 0
                for ky in 0..<k { for kx in 0..<k {
                    let y = oy * s - pad + ky * d, x = ox * s - pad + kx * d
                    guard y >= 0, y < h, x >= 0, x < w else { continue }
                    for j in 0..<cig {
                        let ci = depthwise ? oc : j
                        acc &+= Int32(weights[((oc * k + ky) * k + kx) * cig + j])
                            &* (Int32(input[((b * h + y) * w + x) * inC + ci]) &- zpIn)
                    }
                } }
                if got[((b * outH + oy) * outW + ox) * outC + oc] != Int8(rq.apply(acc &+ bias[oc], channel: oc)) { bad = true }
            } } } }
            cases += 1
            if bad {
                failures += 1
                print("mismatch: depthwise \(depthwise) inC \(inC) outC \(outC) k \(k) stride \(s) dilation \(d) pad \(pad) batch \(batch)")
            }
        }
        print("int8 convolutions (300 dense, 200 depthwise): \(cases) cases, \(failures) mismatches")

        // int8 ADD/SUB/MUL on same-shape tensors (the NEON loop and its scalar tail) against the
        // kernel's own scalar `apply`: equal input scales (both input shifts 0), one twice the
        // other, tiny output scales (output shift 0 or left), zero points, clamps.
        var binaryFailures = 0
        for trial in 0..<300 {
            let kind: Kernels.QuantizedBinaryKernel.Kind = trial % 3 == 0 ? .add : trial % 3 == 1 ? .sub : .mul
            let scale1 = Float(pick(1...4000)) / 8192
            let scale2 = trial % 4 == 0 ? scale1 : trial % 4 == 1 ? scale1 / 2 : Float(pick(1...4000)) / 8192
            let outScale = trial % 5 == 0 ? Float(pick(1...100)) / 1e8 : Float(pick(1...4000)) / 4096
            let zpOut = Int32(pick(-128...127))
            let k = Kernels.QuantizedBinaryKernel(
                kind: kind, scale1: scale1, zeroPoint1: Int32(pick(-128...127)), scale2: scale2,
                zeroPoint2: Int32(pick(-128...127)), outputScale: outScale, outputZeroPoint: zpOut,
                min: trial % 2 == 0 ? -128 : zpOut, max: 127, floatArithmetic: trial % 6 >= 3)
            let count = pick(1...80)
            let a = (0..<count).map { _ in Int8(truncatingIfNeeded: pick(-128...127)) }
            let b = (0..<count).map { _ in Int8(truncatingIfNeeded: pick(-128...127)) }
            var y = [Int8](repeating: 0, count: count)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    y.withUnsafeMutableBufferPointer {
                        k.run(pa.baseAddress!, [count], pb.baseAddress!, [count], $0.baseAddress!, [count])
                    }
                }
            }
            if (0..<count).contains(where: { y[$0] != k.apply(a[$0], b[$0]) }) {
                binaryFailures += 1
                print("mismatch: binary \(kind) scales \(scale1) \(scale2) \(outScale) count \(count)")
            }
        }
        print("int8 binary: 300 cases, \(binaryFailures) mismatches")
        """#

    /// Converts each model for `target`, runs them all in one AArch64 binary and compares.
    func run(_ checks: [Check], target: Target = .arm64, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try temporaryDirectory()
        var sources: [String] = [], calls: [String] = []
        for (k, c) in checks.enumerated() {
            let name = "M\(k)"
            let out = dir.appendingPathComponent(name).path
            _ = try ConvertCommand.convert(
                model: c.path, outputDirectory: out, options: CodegenOptions(name: name, target: target), bench: false)
            sources += ["\(out)/\(name).swift", "\(out)/\(name)+Weights.swift"]
            switch c.input {
            case .int8(let x):
                calls.append(
                    """
                    do {
                        let m = \(name)()!
                        var y = [Int8](repeating: 0, count: \(c.reference.count))
                        let x: [Int8] = \(x)
                        m.predictQuantized(x, into: &y)
                        print("\(k) " + y.map { String($0) }.joined(separator: " "))
                    }
                    """)
            default:
                calls.append(
                    """
                    do {
                        let m = \(name)()!
                        let x: [Float] = [\((c.input.floats ?? []).map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
                        print("\(k) " + m.predict(x).map { String($0.bitPattern) }.joined(separator: " "))
                    }
                    """)
            }
        }
        let printed = try compileAndRunAArch64(
            sources: sources, main: calls.joined(separator: "\n"), in: dir, flags: target.swiftcFlags, file: file,
            line: line)
        var lines: [Int: [Substring]] = [:]
        for l in printed.split(separator: "\n") {
            let parts = l.split(separator: " ")
            if let k = parts.first.flatMap({ Int($0) }) { lines[k] = Array(parts.dropFirst()) }
        }
        for (k, c) in checks.enumerated() {
            let model = URL(fileURLWithPath: c.path).lastPathComponent
            guard let parts = lines[k] else {
                XCTFail("\(model): no output from the \(target.rawValue) run", file: file, line: line)
                continue
            }
            switch c.reference {
            case .int8(let ref):
                XCTAssertEqual(
                    parts.compactMap { Int8($0) }, ref, "\(model) \(target.rawValue): int8 outputs", file: file,
                    line: line)
            default:
                let got = parts.compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
                let ref = c.reference.floats ?? []
                XCTAssertEqual(got.count, ref.count, "\(model) \(target.rawValue)", file: file, line: line)
                XCTAssertLessThanOrEqual(
                    relativeError(got, ref), c.tolerance, "\(model) \(target.rawValue)", file: file, line: line)
            }
        }
    }
}
