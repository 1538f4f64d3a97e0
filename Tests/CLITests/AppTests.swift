import Fercc
import FerccIR
import FerccRuntime
import FerccTestSupport
import Foundation
import XCTest

/// fercc as an app meets it: a package that depends on a tagged release of fercc and applies its
/// plugin, and Examples/FaceExpression on the real portraits.
final class AppTests: XCTestCase {
    static let real = Repo.path("fixtures/real")

    /// A throwaway consumer package depends on a tagged `file://` clone of this working tree by
    /// version (`from:`), applies FerccPlugin to a model with a fercc.json beside it, builds and
    /// runs: `classify(pixels:)` gives the interpreter's class and probability for a face crop. A
    /// model error then fails the build with fercc's one-line message.
    func testVersionedDependencyWithThePlugin() throws {
        let dir = try temporaryDirectory()
        let clone = dir.appendingPathComponent("fercc")
        try FileManager.default.createDirectory(at: clone, withIntermediateDirectories: true)
        // The working tree's files (committed or not, ignored ones left out; without git, all but
        // build products and venvs), as a tagged release.
        let (copied, copyLog) = try shell([
            "bash", "-c",
            "cd \"$0\" && if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then "
                + "git ls-files -z --cached --others --exclude-standard | "
                + "xargs -0 -I{} sh -c 'test -e \"{}\" && printf \"%s\\0\" \"{}\"' | tar --null -T - -cf -; "
                + "else tar --exclude='.build*' --exclude=.venv --exclude=.bench-venv --exclude=.git -cf - .; fi | "
                + "tar -xf - -C \"$1\" && cd \"$1\" && git init -q && git add -A && "
                + "git -c user.name=fercc -c user.email=fercc@localhost commit -qm release && git tag 1.0.0",
            Repo.root.path, clone.path
        ])
        XCTAssertEqual(copied, 0, copyLog)

        let package = dir.appendingPathComponent("Consumer")
        let sources = package.appendingPathComponent("Sources/Consumer")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try Data(
            """
            // swift-tools-version:6.1
            import PackageDescription
            let package = Package(
                name: "Consumer",
                dependencies: [.package(url: "\(clone.absoluteString)", from: "1.0.0")],
                targets: [
                    .executableTarget(name: "Consumer", plugins: [.plugin(name: "FerccPlugin", package: "fercc")])
                ]
            )
            """.utf8
        ).write(to: package.appendingPathComponent("Package.swift"))
        try FileManager.default.copyItem(
            atPath: Self.real + "/fer_mini_xception.onnx", toPath: sources.appendingPathComponent("Mood.onnx").path)
        let config = sources.appendingPathComponent("fercc.json")
        try Data(
            """
            {"Mood.onnx": {"labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
                           "pixels": {"color": "gray", "mean": 0.5, "std": 0.5}}}
            """.utf8
        ).write(to: config)
        let face = try ImageDecoder.decode(Self.real + "/calibration/astronaut_00.png")
        XCTAssertEqual([face.width, face.height, face.channels], [64, 64, 1])
        let pixels = dir.appendingPathComponent("face.gray")
        try Data(face.pixels).write(to: pixels)
        try Data(
            """
            import Foundation
            let pixels = [UInt8](FileManager.default.contents(atPath: "\(pixels.path)")!)
            let mood = Mood()!
            let (label, probability) = mood.classify(pixels: pixels, width: 64, height: 64, bytesPerRow: 64, format: .gray8)
            print(label, probability.bitPattern)
            """.utf8
        ).write(to: sources.appendingPathComponent("main.swift"))

        let (status, log) = try swiftBuild(["--package-path", package.path])
        XCTAssertEqual(status, 0, buildLogSummary(log))
        let (runStatus, printed) = try shell([package.appendingPathComponent(".build/debug/Consumer").path])
        XCTAssertEqual(runStatus, 0, printed)

        // The interpreter on the same preprocessing.
        var p = CalibrationData.Preprocessing()
        p.mean = [0.5]
        p.std = [0.5]
        let graph = try ModelLoader.load(path: Self.real + "/fer_mini_xception.onnx")
        let input = try CalibrationData.prepare(
            face, geometry: .init(graph.values[graph.inputs[0]]!.type, sourceFormat: "onnx"), preprocessing: p,
            source: "face")
        let out = try Interpreter(graph: graph).run([graph.inputs[0]: input])[graph.outputs[0]]!
        let best = out.indices.max { out[$0] < out[$1] }!
        let words = printed.split(whereSeparator: \.isWhitespace)
        XCTAssertEqual(words.count, 2, printed)
        guard words.count == 2, let bits = UInt32(words[1]) else { return }
        XCTAssertEqual(String(words[0]), FER2013.labels[best])
        XCTAssertEqual(Float(bitPattern: bits), out[best], accuracy: 1e-5)

        // A broken model fails the build with fercc's message, naming the file.
        try Data("not a model".utf8).write(to: sources.appendingPathComponent("Mood.onnx"))
        let (broken, brokenLog) = try swiftBuild(["--package-path", package.path])
        XCTAssertNotEqual(broken, 0)
        XCTAssertTrue(brokenLog.contains("error: ") && brokenLog.contains("Mood.onnx"), buildLogSummary(brokenLog))
        // And so does a fercc.json without the model's entry.
        try Data(#"{"Other.onnx": {}}"#.utf8).write(to: config)
        let (unconfigured, unconfiguredLog) = try swiftBuild(["--package-path", package.path])
        XCTAssertNotEqual(unconfigured, 0)
        XCTAssertTrue(unconfiguredLog.contains("names no file"), buildLogSummary(unconfiguredLog))
    }

    /// Examples/FaceExpression (the plugin on the real detector and FER model, float and int8)
    /// finds the one face of each portrait where LiteRT's detector does (fixtures/real/faces.expected,
    /// written by scripts/check-face-example) and gives onnxruntime's class, in float and int8;
    /// it writes the annotated images.
    func testFaceExpressionExample() throws {
        let example = Repo.path("Examples/FaceExpression")
        let (status, log) = try swiftBuild(["--package-path", example])
        XCTAssertEqual(status, 0, buildLogSummary(log))
        let dir = try temporaryDirectory()
        let images = ["grace_hopper.jpg", "astronaut.png"]
        let (runStatus, printed) = try shell(
            [example + "/.build/debug/FaceExpression", "--out", dir.path] + images.map { Self.real + "/" + $0 })
        XCTAssertEqual(runStatus, 0, printed)
        let expected = try String(contentsOfFile: Self.real + "/faces.expected", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").map(String.init) }
        let lines = printed.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, expected.count, printed)
        for (line, e) in zip(lines, expected) {
            // "<image>: face x y w h score s: <label> <probability> (int8: <label> <probability>)"
            let w = line.split(separator: " ").map(String.init)
            XCTAssertEqual(w.count, 13, line)
            guard w.count == 13 else { continue }
            XCTAssertEqual(w[0], e[0] + ":")
            XCTAssertEqual(w[1], "face")
            for k in 0..<4 {
                XCTAssertEqual(Double(w[2 + k]) ?? .nan, Double(e[1 + k])!, accuracy: 1.0, "\(line): box value \(k)")
            }
            XCTAssertGreaterThan(Double(w[7].dropLast()) ?? 0, 0.5, line)
            XCTAssertEqual(w[8], e[5], line)
            XCTAssertEqual(w[11], e[5], "int8: \(line)")
        }
        for image in images {
            let stem = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
            let decoded = try ImageDecoder.decode(Self.real + "/" + image)
            let ppm = try Data(contentsOf: dir.appendingPathComponent("\(stem).faces.ppm"))
            let header = Data("P6\n\(decoded.width) \(decoded.height)\n255\n".utf8)
            XCTAssertEqual(ppm.prefix(header.count), header)
            XCTAssertEqual(ppm.count, header.count + decoded.width * decoded.height * 3)
        }
    }
}
