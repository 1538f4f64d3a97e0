import FerccIR
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes go to a temporary file beside the target and are renamed over it at the end
/// (`rename(2)` replaces an existing file atomically), so an error or an interruption never
/// leaves half a file behind.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw FerccError(file: path, "the directory \(dir) does not exist")
        }
        try isNotADirectory(path)
        let tmp = temporaryPath(for: path)
        try Interrupts.removing(tmp) {
            do {
                try data.write(to: URL(fileURLWithPath: tmp))
                try rename(tmp, to: path)
            } catch {
                try? FileManager.default.removeItem(atPath: tmp)
                if let e = error as? FerccError { throw e }
                throw FerccError(file: path, "cannot write: \(error.localizedDescription)")
            }
        }
    }

    /// The temporary name a write to `path` uses: hidden, beside it, unique to this process.
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    }

    /// Renames `from` over `to` (replacing a file there atomically).
    static func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw FerccError(file: to, "cannot write: \(String(cString: strerror(errno)))")
        }
    }

    static func isNotADirectory(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw FerccError(file: path, "is a directory; give a file name")
        }
    }
}

/// A directory that fercc writes its files into: created (with its parents) when missing; files
/// of other names in it are left alone. Each file is written whole beside its final name and
/// renamed into place only when all of them are written.
public struct OutputDirectory {
    public let path: String

    /// Checks that `path` can be an output directory; it is created by the first `write`.
    public init(_ path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
            throw FerccError(file: path, "is a file, not a directory (give a directory for the output)")
        }
    }

    func create() throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw FerccError(file: path, "is a file, not a directory (give a directory for the output)")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FerccError(file: path, "cannot create the directory: \(error.localizedDescription)")
        }
    }

    /// Writes `files` (name -> contents) and removes `stale` names (files fercc wrote in an earlier
    /// run that this one replaces by others), all or nothing up to the final renames.
    public func write(_ files: [(name: String, data: Data)], removing stale: [String] = []) throws {
        try create()
        let targets = files.map { path + "/" + $0.name }
        for t in targets { try AtomicFile.isNotADirectory(t) }
        let temporaries = targets.map(AtomicFile.temporaryPath)
        for t in temporaries { Interrupts.register(path: t) }
        defer { for t in temporaries { Interrupts.unregister(path: t) } }
        do {
            for (file, tmp) in zip(files, temporaries) { try file.data.write(to: URL(fileURLWithPath: tmp)) }
            for (tmp, target) in zip(temporaries, targets) { try AtomicFile.rename(tmp, to: target) }
        } catch {
            for t in temporaries { try? FileManager.default.removeItem(atPath: t) }
            if let e = error as? FerccError { throw e }
            throw FerccError(file: path, "cannot write: \(error.localizedDescription)")
        }
        for name in stale where !files.contains(where: { $0.name == name }) {
            let p = path + "/" + name
            if FileManager.default.fileExists(atPath: p) { try? FileManager.default.removeItem(atPath: p) }
        }
    }
}
