import FerccIR
import FerccKernels

/// What kernel calls print into a generated class: stored kernels (a property and its line in
/// the initializer), statements of `run()`, constant shape arrays, and the expressions for
/// buffers and literals. The generated file gives `arena` (UnsafeMutableRawPointer), `weights`
/// (UnsafeRawPointer), `scratch` and typed views `f32`, `i8`, `i16`, `i32` of both.
public struct SwiftWriter {
    public private(set) var properties: [String] = []
    public private(set) var initLines: [String] = []
    public private(set) var body: [String] = []
    public private(set) var arrays: [[Int]: String] = [:]
    /// The largest constant scratch size, and the expressions of the others.
    public private(set) var scratchBytes = 64
    public private(set) var scratchExpressions: [String] = []
    var counter = 0

    public init() {}

    /// Declares a stored kernel `let <prefix>N: <type>` built by `initializer` in the model's
    /// initializer, and returns its name.
    public mutating func kernel(_ prefix: String, _ type: String, _ initializer: String) -> String {
        counter += 1
        let name = "\(prefix)\(counter)"
        properties.append("private let \(name): \(type)")
        initLines.append("\(name) = \(initializer)")
        return name
    }

    /// `kernel` for a kernel whose initializer fails (returns nil) when its memory cannot be had:
    /// the model's initializer then fails too, as when its arena cannot be had.
    public mutating func failableKernel(_ prefix: String, _ type: String, _ initializer: String) -> String {
        counter += 1
        let name = "\(prefix)\(counter)"
        properties.append("private let \(name): \(type)")
        initLines.append("guard let \(name)Made = \(initializer) else {")
        initLines.append("    if owned { UnsafeMutableRawPointer(mutating: weights).deallocate() }")
        initLines.append("    return nil")
        initLines.append("}")
        initLines.append("\(name) = \(name)Made")
        return name
    }

    /// Scratch the generated code must allocate: a constant, or an expression its initializer
    /// evaluates (a kernel's `scratchBytes`, which depends on the paths the build compiled).
    public mutating func scratch(bytes: Int) { scratchBytes = max(scratchBytes, bytes) }

    public mutating func scratch(expression: String) { scratchExpressions.append(expression) }

    /// The expression of the scratch bytes the initializer allocates.
    public var scratchSize: String {
        scratchExpressions.isEmpty
            ? "\(scratchBytes)" : "max(\(([String(scratchBytes)] + scratchExpressions).joined(separator: ", ")))"
    }

    /// A statement of `run()`.
    public mutating func line(_ statement: String) { body.append(statement) }

    /// A property holding a constant shape (or axes) array, shared by every call that uses it.
    public mutating func array(_ values: [Int]) -> String {
        if let n = arrays[values] { return n }
        let n = "shape\(arrays.count)"
        arrays[values] = n
        return n
    }

    /// The typed pointer to `buffer`: `f32(arena + 64)`, `i8(weights + 128)`.
    public func pointer(_ buffer: Buffer, _ dtype: DType) -> String {
        let base: String
        switch buffer {
        case .arena(let o): base = o == 0 ? "arena" : "arena + \(o)"
        case .weights(let o): base = o == 0 ? "weights" : "weights + \(o)"
        }
        return "\(Self.view(dtype))(\(base))"
    }

    /// The scratch buffer as `dtype` elements.
    public func scratch(_ dtype: DType) -> String { "\(Self.view(dtype))(scratch)" }

    static func view(_ dtype: DType) -> String {
        switch dtype {
        case .float32: return "f32"
        case .int8: return "i8"
        case .uint8: return "u8"
        case .int32: return "i32"
        case .int64: return "i64"
        }
    }

    /// A Float literal that reads back to exactly `x`.
    public static func float(_ x: Float) -> String {
        if x == .infinity { return "Float.infinity" }
        if x == -.infinity { return "-Float.infinity" }
        if x.isNaN { return "Float.nan" }
        if x == 0 { return x.sign == .minus ? "-0.0" : "0.0" }
        return "Float(bitPattern: 0x\(String(x.bitPattern, radix: 16)))"
    }

    /// The compact geometry initializer, naming only what differs from its defaults.
    public static func geometry(_ g: Conv2DGeometry) -> String {
        var text =
            "Kernels.Conv2DGeometry(input: (\(g.batch), \(g.inH), \(g.inW), \(g.inC)), "
            + "output: (\(g.outH), \(g.outW), \(g.outC)), kernel: (\(g.kernelH), \(g.kernelW))"
        if g.strideH != 1 || g.strideW != 1 { text += ", stride: (\(g.strideH), \(g.strideW))" }
        if g.dilationH != 1 || g.dilationW != 1 { text += ", dilation: (\(g.dilationH), \(g.dilationW))" }
        if g.hasPadding { text += ", pads: (\(g.padTop), \(g.padLeft), \(g.padBottom), \(g.padRight))" }
        if g.groups != 1 { text += ", groups: \(g.groups)" }
        return text + ")"
    }

    /// The clamp a convolution with `activation` applies in registers, as the type argument of
    /// its `run` (generated code compiles only the kinds it names).
    public static func clamp(_ activation: Activation) -> String {
        switch Kernels.OutputClamp(activation) {
        case nil: return "Kernels.NoClamp()"
        case .relu?: return "Kernels.ReluClamp()"
        case .clip(let lo, let hi)?: return "Kernels.ClipClamp(low: \(float(lo)), high: \(float(hi)))"
        }
    }

    /// `, label: activation` for a kernel initializer argument that defaults to `.identity`;
    /// nothing for `.identity`.
    public static func activation(_ label: String, _ a: Activation) -> String {
        a == .identity ? "" : ", \(label): \(activation(a))"
    }

    public static func activation(_ a: Activation) -> String {
        switch a {
        case .identity: return ".identity"
        case .relu: return ".relu"
        case .clip(let lo, let hi): return ".clip(min: \(float(lo)), max: \(float(hi)))"
        case .leakyRelu(let alpha): return ".leakyRelu(alpha: \(float(alpha)))"
        case .sigmoid: return ".sigmoid"
        case .hardSigmoid(let alpha, let beta): return ".hardSigmoid(alpha: \(float(alpha)), beta: \(float(beta)))"
        case .hardSwish: return ".hardSwish"
        case .tanh: return ".tanh"
        case .erf: return ".erf"
        }
    }
}
