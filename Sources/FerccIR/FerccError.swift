/// The one error type of fercc: where it happened (file, node) and why, printed by the CLI
/// as `error: <file>: <node>: <reason>`.
public struct FerccError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var node: String?
    public var reason: String

    public init(file: String? = nil, node: String? = nil, _ reason: String) {
        self.file = file
        self.node = node
        self.reason = reason
    }

    /// The same error with the file filled in where it was not known yet.
    public func inFile(_ path: String) -> FerccError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }

    /// The same error with the node filled in where it was not known yet.
    public func atNode(_ name: String) -> FerccError {
        var copy = self
        if copy.node == nil { copy.node = name }
        return copy
    }

    public var description: String {
        // Names come from model files: keep the message on one line whatever they hold.
        var parts: [String] = []
        if let file { parts.append(file.replacingNewlines()) }
        if let node { parts.append(node.isEmpty ? "<unnamed node>" : node.replacingNewlines()) }
        parts.append(reason.replacingNewlines())
        return parts.joined(separator: ": ")
    }
}

extension String {
    /// Keeps an error on one line whatever a model file put into its names.
    func replacingNewlines() -> String {
        // Character.isNewline: "\r\n" is one Character, equal to neither "\r" nor "\n".
        String(map { $0.isNewline ? " " : $0 })
    }
}
