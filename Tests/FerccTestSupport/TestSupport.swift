import Foundation
import XCTest

/// Paths into the repository, found from this file's location so tests run from any directory.
public enum Repo {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    public static let fixtures = path("fixtures/onnx")
}

/// max |a - b| / max(1, max |b|): the comparison the conformance script uses.
public func relativeError(_ a: [Float], _ b: [Float]) -> Float {
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
    public func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fercc-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Deterministic pseudo-random floats in [-1, 1) (SplitMix64).
public struct SeededRandom {
    var state: UInt64
    public init(_ seed: UInt64) { state = seed }
    public mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    public mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

/// Runs a command (through /usr/bin/env), returning its exit status and combined output.
public func shell(_ args: [String], stdin: Data? = nil) throws -> (Int32, String) {
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

/// `swift build` with `arguments`, like `shell`, but run a second time when SwiftPM itself crashed
/// (its backtrace lists swift-package's image; seen once in CI, in a build that passes on every
/// other run): a defect of the toolchain, not of what is built. A crash of anything SwiftPM runs
/// (the compiler, fercc in the plugin) is an ordinary failure. The returned log starts with what
/// the crash said, so a failing test shows why.
public func swiftBuild(_ arguments: [String]) throws -> (Int32, String) {
    var (status, log) = try shell(["swift", "build"] + arguments)
    if status != 0 && log.contains("*** Program crashed") && log.contains("/bin/swift-package") {
        let reason = crashLines(log)
        print("swift build: SwiftPM crashed (\(reason.joined(separator: "; "))); building again")
        (status, log) = try shell(["swift", "build"] + arguments)
        log = "(a first build crashed SwiftPM: \(reason.joined(separator: "; ")))\n" + log
    }
    return (status, log)
}

/// A failed build's log for an assertion message: its first error or crash lines, then its end.
public func buildLogSummary(_ log: String) -> String {
    let first = log.split(separator: "\n").filter { $0.contains("error:") || isCrashLine($0) }.prefix(10)
    return first.joined(separator: "\n") + "\n...\n" + String(log.suffix(2500))
}

/// The lines of a backtrace's header that say what crashed and why.
func crashLines(_ log: String) -> [Substring] { log.split(separator: "\n").filter(isCrashLine) }

func isCrashLine(_ line: Substring) -> Bool {
    line.contains("Program crashed") || line.contains("Fatal error") || line.contains(" crashed:")
}

/// The swiftc flags of the code generator's target for this machine, as `fercc convert` states
/// them in the generated header (what the tests compile generated code with).
public var hostTargetFlags: [String] {
    let flags =
        " "
        + ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("flags") }.map(String.init) ?? "") + " "
    let has = { (f: String) in flags.contains(" \(f) ") }
    if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_vnni", "avx2", "fma"].allSatisfy(has) {
        return ["-Xcc", "-march=x86-64-v4", "-Xcc", "-mavx512vnni", "-D", "FERCC_AVX2", "-D", "FERCC_AVX512"]
    }
    if ["avx2", "fma", "bmi2"].allSatisfy(has) { return ["-Xcc", "-march=x86-64-v3", "-D", "FERCC_AVX2"] }
    return []
}

/// Compiles `sources` with a `main.swift` of `main` and returns what the program prints.
public func compileAndRun(
    sources: [String], main: String, in dir: URL, flags: [String] = ["-O", "-wmo"],
    file: StaticString = #filePath, line: UInt = #line
) throws -> String {
    let mainDir = dir.appendingPathComponent("main-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: mainDir, withIntermediateDirectories: true)
    let mainPath = mainDir.appendingPathComponent("main.swift").path
    try Data(main.utf8).write(to: URL(fileURLWithPath: mainPath))
    let binary = mainDir.appendingPathComponent("run").path
    let (status, log) = try shell(["swiftc"] + flags + sources + [mainPath, "-o", binary])
    XCTAssertEqual(status, 0, String(log.prefix(3000)), file: file, line: line)
    let (runStatus, printed) = try shell([binary])
    XCTAssertEqual(runStatus, 0, printed, file: file, line: line)
    return printed
}

/// AArch64 under emulation, as phones run generated code: `sources` and a `main.swift` of `main`
/// compiled with Embedded Swift for `aarch64-none-none-elf` (the toolchain's own standard library;
/// generated code needs nothing else), linked with Debian's AArch64 gcc and glibc (`-static-pie`:
/// a non-PIE link fails on a copy relocation against a protected Swift symbol), and run by
/// `qemu-aarch64 -cpu <cpu>`. Returns what the program prints. scripts/install-deps installs
/// the cross compiler and qemu-user.
public func compileAndRunAArch64(
    sources: [String], main: String, in dir: URL, cpu: String = "cortex-a76", flags: [String] = [],
    file: StaticString = #filePath, line: UInt = #line
) throws -> String {
    for tool in ["aarch64-linux-gnu-gcc", "qemu-aarch64"] where try shell(["which", tool]).0 != 0 {
        XCTFail("\(tool) is missing: scripts/install-deps installs it", file: file, line: line)
        return ""
    }
    let mainDir = dir.appendingPathComponent("aarch64-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: mainDir, withIntermediateDirectories: true)
    let mainPath = mainDir.appendingPathComponent("main.swift").path
    try Data(main.utf8).write(to: URL(fileURLWithPath: mainPath))
    let object = mainDir.appendingPathComponent("net.o").path, binary = mainDir.appendingPathComponent("net").path
    let (status, log) = try shell(
        ["swiftc", "-enable-experimental-feature", "Embedded", "-target", "aarch64-none-none-elf", "-O", "-wmo"]
            + flags + sources + [mainPath, "-c", "-o", object])
    XCTAssertEqual(status, 0, String(log.prefix(3000)), file: file, line: line)
    guard status == 0 else { return "" }
    let (linkStatus, linkLog) = try shell(["aarch64-linux-gnu-gcc", "-static-pie", "-fPIE", object, "-o", binary])
    XCTAssertEqual(linkStatus, 0, String(linkLog.prefix(3000)), file: file, line: line)
    guard linkStatus == 0 else { return "" }
    let (runStatus, printed) = try shell(["qemu-aarch64", "-cpu", cpu, binary])
    XCTAssertEqual(runStatus, 0, String(printed.prefix(3000)), file: file, line: line)
    return printed
}

/// Compiles generated code in `generated` (class `name`, embedded weights) with a main that calls
/// `predict` on `input`, runs it, and returns the outputs bit for bit.
public func compileAndPredict(
    generated: String, name: String, input: [Float], in dir: URL,
    flags: [String] = ["-O", "-wmo"] + hostTargetFlags
) throws -> [Float] {
    let main = """
        let model = \(name)()!
        let x: [Float] = [\(input.map { "Float(bitPattern: \($0.bitPattern))" }.joined(separator: ", "))]
        print(model.predict(x).map { String($0.bitPattern) }.joined(separator: " "))
        """
    let printed = try compileAndRun(
        sources: ["\(generated)/\(name).swift", "\(generated)/\(name)+Weights.swift"], main: main,
        in: dir, flags: flags)
    return printed.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt32($0) }.map {
        Float(bitPattern: $0)
    }
}

/// The fercc executable: runs it, and checks the one-line `error:` contract (exit status 1).
public enum FerccProcess {
    /// swift test builds the executable next to the test bundle (FERCC_BIN overrides).
    public static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["FERCC_BIN"] { return URL(fileURLWithPath: path) }
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]), Bundle.main.bundleURL]
            .map { $0.deletingLastPathComponent().appendingPathComponent("fercc") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    public static func run(_ args: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
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
    public static func start(_ args: [String], in directory: URL? = nil, environment: [String: String] = [:]) -> Process
    {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // scripts/sanitize: the test process runs without leak checks (XCTest leaks its own test
        // cases), each fercc it starts with them.
        if let options = env["FERCC_CHILD_ASAN_OPTIONS"] { env["ASAN_OPTIONS"] = options }
        p.environment = env
        return p
    }

    public static func assertOneLineError(
        _ r: (status: Int32, stdout: String, stderr: String), contains text: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(r.status, 1, "exit status", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "'\(text)' not in: \(r.stderr)", file: file, line: line)
    }
}

/// fixtures/tflite/index.json: every TFLite fixture with its inputs and LiteRT's outputs.
public struct TFLiteFixtureIndex: Decodable {
    public struct Binding: Decodable { public var name: String; public var file: String }
    public struct Case: Decodable {
        public var name: String
        public var model: String
        public var tolerance: Double
        public var inputs: [Binding]
        public var outputs: [Binding]
    }
    public var cases: [Case]

    public static let directory = Repo.path("fixtures/tflite")

    public static func load() throws -> TFLiteFixtureIndex {
        try JSONDecoder().decode(
            TFLiteFixtureIndex.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/index.json")))
    }
}
