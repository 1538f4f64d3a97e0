import FerccIR
import FerccKernels
import FerccLowering

/// Options of `fercc convert` that shape the generated code.
public struct CodegenOptions {
    public enum Weights: String, CaseIterable { case embedded, file }

    public var name: String
    public var weights: Weights
    /// A concrete target (`Target.host` is resolved to one before emitting).
    public var target: Target
    public var labels: [String]?
    /// The preprocessing `predict(pixels:...)` applies; no pixel API when nil.
    public var imageInput: Kernels.ImageInput?
    /// Bytes the generated model's weights, activations and scratch may need together
    /// (`--max-memory`, checked before anything of that size is allocated).
    public var maxMemory = 4 << 30
    /// Float 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) or F(4x4, 3x3) where it applies
    /// (faster; their transformed weights, 16/9 or 36/9 of theirs, allocated when the model is made).
    public var winograd = true

    public init(
        name: String, weights: Weights = .embedded, target: Target = .host, labels: [String]? = nil,
        imageInput: Kernels.ImageInput? = nil
    ) {
        self.name = name
        self.weights = weights
        self.target = target
        self.labels = labels
        self.imageInput = imageInput
    }
}

/// One row of the size report.
public struct LayerReport: Codable, Equatable {
    public var index: Int
    public var name: String
    public var op: String
    public var output_shape: [Int]
    public var weight_bytes: Int
    public var macs: Int
}

/// What the emitter produces: the Swift sources, the weights, and the facts for the report.
public struct GeneratedCode {
    public var kernelSource: String
    public var weightsSource: String?
    public var weightsFile: [UInt8]?
    public var arena: ArenaPlan
    /// Scratch bytes of the kernels this fercc build compiles (the generated code computes its own).
    public var scratchBytes: Int
    public var weightBytes: Int
    /// Bytes the kernels allocate for themselves when the model is made (Winograd's transformed
    /// weights): memory besides the weights, arena and scratch.
    public var kernelBytes: Int { plan.steps.reduce(0) { $0 + $1.calls.reduce(0) { $0 + $1.ownedBytes } } }
    public var layers: [LayerReport]
    public var plan: ExecutionPlan
    /// How the pointer form of `predict` is called: each input's argument label ("_" for the
    /// unlabeled single input) and float count, then each output's ("into" for a single output).
    public var inputArguments: [(label: String, count: Int)]
    public var outputArguments: [(label: String, count: Int)]
}
