import Foundation
import XCTest

/// Paths into the repository, found from this file's location so tests run from any directory.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let fixtures = path("fixtures/onnx")
}

/// max |a - b| / max(1, max |b|): the comparison the conformance script uses.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = max(1, b.map { abs($0) }.max() ?? 0)
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        let d = abs(x - y)
        worst = max(worst, d.isNaN ? .infinity : d)
    }
    return worst / scale
}

extension XCTestCase {
    /// A fresh directory that is removed when the test ends, pass or fail.
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fercc-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Deterministic pseudo-random floats in [-1, 1) (SplitMix64).
struct SeededRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

/// Runs a command (through /usr/bin/env), returning its exit status and combined output.
func shell(_ args: [String], stdin: Data? = nil) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    if let stdin {
        let inp = Pipe()
        p.standardInput = inp
        try p.run()
        inp.fileHandleForWriting.write(stdin)
        try inp.fileHandleForWriting.close()
    } else {
        try p.run()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Compiles generated code in `generated` (class `name`, embedded weights) with a main that calls
/// `predict` on `input`, runs it, and returns the outputs bit for bit.
func compileAndPredict(generated: String, name: String, input: [Float], in dir: URL) throws -> [Float] {
    let main = """
    let model = \(name)()
    let x: [Float] = [\(input.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
    print(model.predict(x).map { String($0.bitPattern) }.joined(separator: " "))
    """
    // Top-level code must be in a file named main.swift.
    let mainDir = dir.appendingPathComponent("main-\(name)")
    try FileManager.default.createDirectory(at: mainDir, withIntermediateDirectories: true)
    let mainPath = mainDir.appendingPathComponent("main.swift").path
    try Data(main.utf8).write(to: URL(fileURLWithPath: mainPath))
    let binary = dir.appendingPathComponent("bin-\(name)").path
    let (status, log) = try shell(["swiftc", "-O", "-wmo", "-Xcc", "-march=native", "\(generated)/\(name).swift", "\(generated)/\(name)+Weights.swift",
                                   mainPath, "-o", binary])
    XCTAssertEqual(status, 0, String(log.prefix(2000)))
    let (runStatus, printed) = try shell([binary])
    XCTAssertEqual(runStatus, 0, printed)
    return printed.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0) }.map { Float(bitPattern: $0) }
}

/// The fercc executable: runs it, and checks the one-line `error:` contract (exit status 1).
enum FerccProcess {
    /// swift test builds the executable next to the test bundle (FERCC_BIN overrides).
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["FERCC_BIN"] { return URL(fileURLWithPath: path) }
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]), Bundle(for: CLITests.self).bundleURL, Bundle.main.bundleURL]
            .map { $0.deletingLastPathComponent().appendingPathComponent("fercc") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    static func run(_ args: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws
        -> (status: Int32, stdout: String, stderr: String) {
        let p = start(args, in: directory, environment: environment)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A fercc process, not started yet.
    static func start(_ args: [String], in directory: URL? = nil, environment: [String: String] = [:]) -> Process {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.currentDirectoryURL = directory
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        return p
    }

    static func assertOneLineError(_ r: (status: Int32, stdout: String, stderr: String), contains text: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "exit status", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "'\(text)' not in: \(r.stderr)", file: file, line: line)
    }
}
