import FerccIR
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What fercc must undo when it is interrupted (Ctrl-C, SIGTERM, SIGHUP): temporary files and
/// directories it is writing, and the process groups of the compilers and benchmarks it runs.
/// `install()` (the CLI calls it once) turns the signals into a cleanup followed by the default
/// action, so an interrupted `convert` leaves no `.tmp-` file, no work directory and no
/// `swift-frontend` behind.
public enum Interrupts {
    private static let lock = NSLock()
    private nonisolated(unsafe) static var paths: Set<String> = []
    private nonisolated(unsafe) static var groups: Set<pid_t> = []
    private nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Handles SIGINT, SIGTERM and SIGHUP from now on (idempotent).
    public static func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { cleanUpAndDie(sig) }
            source.resume()
            sources.append(source)
        }
    }

    /// Called before fercc exits on its own: while an interruption is being handled, it waits for
    /// the handler to end the process by the signal, so the exit status says "interrupted".
    public static func beforeExit() {
        lock.lock()
        lock.unlock()
    }

    /// Runs `body` with `path` registered for removal on interruption.
    public static func removing<T>(_ path: String, _ body: () throws -> T) rethrows -> T {
        register(path: path)
        defer { unregister(path: path) }
        return try body()
    }

    static func register(path: String) {
        lock.lock()
        paths.insert(path)
        lock.unlock()
    }

    static func unregister(path: String) {
        lock.lock()
        paths.remove(path)
        lock.unlock()
    }

    static func register(group: pid_t) {
        lock.lock()
        groups.insert(group)
        lock.unlock()
    }

    static func unregister(group: pid_t) {
        lock.lock()
        groups.remove(group)
        lock.unlock()
    }

    private static func cleanUpAndDie(_ sig: Int32) {
        lock.lock()
        // swiftc starts each swift-frontend in a process group of its own: find the whole tree
        // first (killing a parent first would orphan its children), then kill it.
        var victims = Set(groups)
        var frontier = Array(groups)
        let children = childrenByParent()
        while let p = frontier.popLast() {
            for c in children[p, default: []] where victims.insert(c).inserted { frontier.append(c) }
        }
        for g in groups { kill(-g, SIGKILL) }
        for v in victims { kill(v, SIGKILL) }
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        // The lock stays held until the process is gone: the main thread, seeing its killed
        // compiler fail, must not report that failure and exit 1 first (`beforeExit()` waits).
        // Die of the same signal, as the shell expects (exit status 128 + signal).
        signal(sig, SIG_DFL)
        kill(getpid(), sig)
        exit(128 + sig)
    }
}

/// Every process's children, from /proc (empty where there is no /proc).
private func childrenByParent() -> [pid_t: [pid_t]] {
    var result: [pid_t: [pid_t]] = [:]
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return result }
    for e in entries {
        guard let pid = pid_t(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8) else {
            continue
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let ppid = pid_t(fields[1]) { result[ppid, default: []].append(pid) }
    }
    return result
}

/// Runs a program in its own process group (so that an interrupted fercc can kill it and every
/// process it started, such as `swift-frontend` under `swiftc`) and collects its standard output
/// and error together.
enum Subprocess {
    /// `environment` adds to or replaces variables of fercc's own environment.
    static func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw FerccError("cannot create a pipe to run \(args[0])") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child gets default signal actions back (fercc ignores them while its handlers run).
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in Interrupts.signals { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in envp { free(e) } }
        let rc = posix_spawnp(&pid, args[0], &actions, &attributes, &argv, &envp)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw FerccError("cannot run \(args[0]): \(String(cString: strerror(rc)))")
        }
        Interrupts.register(group: pid)
        defer { Interrupts.unregister(group: pid) }
        let output = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: output, as: UTF8.self))
    }
}
