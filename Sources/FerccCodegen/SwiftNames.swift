import FerccIR

/// Names and literals that go into generated Swift: the class name must compile and must not
/// shadow what the generated file itself refers to; strings from users and models are escaped.
public enum SwiftNames {
    /// Swift's keywords (declarations, statements, expressions and the contextual ones that
    /// cannot name a type).
    static let keywords: Set<String> = [
        "associatedtype", "borrowing", "class", "consuming", "deinit", "enum", "extension", "fileprivate", "func",
        "import",
        "init", "inout", "internal", "let", "nonisolated", "open", "operator", "package", "private", "precedencegroup",
        "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch",
        "continue", "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self", "super",
        "throws",
        "true", "try", "Type", "Protocol", "some", "any", "_"
    ]

    /// Standard library names the generated file uses unqualified, and its own top-level names:
    /// a class of one of these names would shadow it and the file would not compile.
    static let usedByGeneratedCode: Set<String> = [
        "Float", "Double", "Int", "Int8", "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64",
        "Bool",
        "String", "Character", "Array", "Optional", "Never", "Void", "AnyObject", "Error", "Swift", "Range",
        "ClosedRange",
        "SIMD", "SIMD2", "SIMD4", "SIMD8", "SIMD16", "SIMD32", "SIMD64", "SIMDMask", "SIMDScalar", "MemoryLayout",
        "UnsafePointer", "UnsafeMutablePointer", "UnsafeRawPointer", "UnsafeMutableRawPointer", "UnsafeBufferPointer",
        "UnsafeMutableBufferPointer", "UnsafeRawBufferPointer", "UnsafeMutableRawBufferPointer", "ContinuousClock",
        "Duration", "Sendable", "Equatable", "Hashable", "Comparable", "Collection", "Sequence", "FloatingPointSign",
        "FloatingPoint", "BinaryInteger", "FixedWidthInteger", "Kernels", "KernelMath", "LayerProfile", "PixelFormat",
        "Outputs", "Inputs"
    ]

    /// Why `name` cannot be the generated class's name, or nil when it can.
    public static func problem(withTypeName name: String) -> String? {
        guard let first = name.unicodeScalars.first else { return "is empty" }
        guard first.properties.isXIDStart || first == "_",
            name.unicodeScalars.allSatisfy({ $0.properties.isXIDContinue })
        else { return "is not a Swift identifier (letters, digits and _, not starting with a digit)" }
        if keywords.contains(name) { return "is a Swift keyword" }
        if name.hasPrefix("__") { return "starts with __ (reserved for the compiler)" }
        if usedByGeneratedCode.contains(name) { return "is a name the generated code uses (it would shadow it)" }
        return nil
    }

    /// A type name from a file name (mobilenet_v2.opset13 -> MobilenetV2Opset13), made valid:
    /// "Model" in front of a leading digit, after a reserved word (self.onnx -> SelfModel).
    public static func typeName(fromFileName base: String) -> String {
        let parts = base.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        var name = parts.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        name = String(name.unicodeScalars.filter { $0.properties.isXIDContinue }.map(Character.init))
        if name.isEmpty { return "Model" }
        if name.first!.isNumber { name = "Model" + name }
        if problem(withTypeName: name) != nil { name += "Model" }
        return name
    }

    /// lowerCamelCase Swift identifiers for model tensor names (input_1 -> input1, "classificators"
    /// stays), ASCII letters and digits only, distinct from each other and from `reserved`.
    public static func propertyNames(for names: [String], reserved: Set<String>, fallback: String) -> [String] {
        var used = reserved
        return names.map { name in
            let parts = name.split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) })
            var id = parts.enumerated().map { i, p in
                i == 0 ? p.prefix(1).lowercased() + p.dropFirst() : p.prefix(1).uppercased() + p.dropFirst()
            }.joined()
            if id.isEmpty { id = fallback }
            if id.first!.isNumber { id = fallback + id }
            if keywords.contains(id) || used.contains(id) { id += "Value" }
            var unique = id, n = 2
            while used.contains(unique) {
                unique = id + String(n)
                n += 1
            }
            used.insert(unique)
            return unique
        }
    }

    /// A Swift string literal (quotes included) whose value is `s`, whatever it holds.
    public static func stringLiteral(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            default:
                if u.value < 0x20 || u.value == 0x7f || (0x2028...0x2029).contains(u.value) {
                    out += "\\u{\(String(u.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Text for a `//` comment: one line, whatever a model file put into a name.
    public static func commentText(_ s: String) -> String {
        String(s.map { $0.isNewline ? " " : $0 })
    }
}
