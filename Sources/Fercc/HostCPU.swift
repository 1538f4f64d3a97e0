import FerccLowering
import Foundation

/// What the machine fercc runs on can execute: its architecture and, on x86-64, the CPU flags
/// Linux reports. `convert` benchmarks generated code only where it can run.
public struct HostCPU: Sendable {
    public enum Architecture: String, Sendable { case x86_64, arm64, other }
    public var architecture: Architecture
    /// /proc/cpuinfo's flags (x86-64) or features (arm64).
    public var flags: Set<String>

    public init(architecture: Architecture, flags: Set<String>) {
        self.architecture = architecture
        self.flags = flags
    }

    public static let current: HostCPU = {
        #if arch(x86_64)
        let arch = Architecture.x86_64
        #elseif arch(arm64)
        let arch = Architecture.arm64
        #else
        let arch = Architecture.other
        #endif
        var flags: Set<String> = []
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in info.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
                flags = Set(line.split(separator: ":").last.map { $0.split(separator: " ").map(String.init) } ?? [])
                break
            }
        }
        return HostCPU(architecture: arch, flags: flags)
    }()

    /// Why code built for `target` cannot run here, or nil when it can.
    /// `target`, with `.host` replaced by the best target this machine runs.
    public func resolve(_ target: Target) -> Target {
        guard target == .host else { return target }
        switch architecture {
        case .arm64: return cannotRun(.arm64_dotprod) == nil ? .arm64_dotprod : .arm64
        case .other: return .portable
        case .x86_64:
            return [Target.x86_64_avx512, .x86_64_avx2].first { cannotRun($0) == nil } ?? .portable
        }
    }

    public func cannotRun(_ target: Target) -> String? {
        let needed = target.requiredCPUFlags
        switch target.architecture {
        case .x86_64 where architecture != .x86_64, .arm64 where architecture != .arm64:
            return "the \(target.rawValue) code cannot run on this \(architecture.rawValue) machine"
        default:
            break
        }
        let missing = needed.filter { !flags.contains($0) }.sorted()
        guard missing.isEmpty else {
            return "the \(target.rawValue) code cannot run on this CPU (no \(missing.joined(separator: ", ")))"
        }
        return nil
    }
}

/// A directory under the system's temporary directory for one piece of work (compiling and
/// running generated code), removed when the work ends or fercc is interrupted.
enum WorkDirectory {
    static func with<T>(_ prefix: String, _ body: (URL) throws -> T) throws -> T {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        return try Interrupts.removing(work.path) {
            defer { try? fm.removeItem(at: work) }
            return try body(work)
        }
    }
}
