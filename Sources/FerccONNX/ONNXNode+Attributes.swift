import FerccIR

/// Typed attribute access with errors that name the attribute.
extension ONNXNode {
    func int(_ key: String, _ defaultValue: Int) throws -> Int {
        guard let a = attributes[key] else { return defaultValue }
        guard case .int(let v) = a else { throw FerccError("attribute '\(key)' must be an int") }
        guard let i = Int(exactly: v) else { throw FerccError("attribute '\(key)' is out of range") }
        return i
    }

    func float(_ key: String, _ defaultValue: Float) throws -> Float {
        guard let a = attributes[key] else { return defaultValue }
        switch a {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw FerccError("attribute '\(key)' must be a float")
        }
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case .ints(let v): return v.map { Int(clamping: $0) }
        case .int(let v): return [Int(clamping: v)]
        default: throw FerccError("attribute '\(key)' must be a list of ints")
        }
    }

    func floats(_ key: String) throws -> [Float]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw FerccError("attribute '\(key)' must be a list of floats")
        }
    }

    func string(_ key: String, _ defaultValue: String) throws -> String {
        guard let a = attributes[key] else { return defaultValue }
        guard case .string(let s) = a else { throw FerccError("attribute '\(key)' must be a string") }
        return s
    }

    /// The name of input i, or nil when it is absent or given as "" (ONNX's optional input).
    func input(_ i: Int) -> String? {
        i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil
    }
}
