import FerccIR
import FerccKernels
import FerccRuntime

/// Options of `fercc convert` that shape the generated code.
public struct CodegenOptions {
    public enum Weights: String, CaseIterable { case embedded, file }
    public enum Target: String, CaseIterable {
        case host, x86_64_avx2 = "x86-64-avx2", x86_64_avx512 = "x86-64-avx512", arm64, portable

        /// swiftc flags the generated code needs on this target (FMA must be enabled for `addingProduct`).
        public var swiftcFlags: [String] {
            switch self {
            case .host: return ["-Xcc", "-march=native"]
            case .x86_64_avx2: return ["-Xcc", "-march=haswell"]
            case .x86_64_avx512: return ["-Xcc", "-march=cascadelake"]  // the first with AVX-512 VNNI
            case .arm64: return []
            case .portable: return []
            }
        }

        public enum Architecture: String { case x86_64 = "x86-64", arm64, any }

        /// The architecture the generated code is built for (any: the host's, or portable code).
        public var architecture: Architecture {
            switch self {
            case .x86_64_avx2, .x86_64_avx512: return .x86_64
            case .arm64: return .arm64
            case .host, .portable: return .any
            }
        }

        /// The CPU flags (as Linux's /proc/cpuinfo names them) that the target's -march enables
        /// and compiled code may use: a machine without one cannot run it.
        public var requiredCPUFlags: [String] {
            let haswell = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt"]
            switch self {
            case .x86_64_avx2: return haswell
            case .x86_64_avx512: return haswell + ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"]
            case .host, .portable, .arm64: return []
            }
        }

        /// Whether the generated int8 kernels take their AVX2 paths: on the AVX2 and AVX-512 targets,
        /// and on the host when the kernels of this fercc build do (built with -march=native).
        public var hasAVX2: Bool {
            switch self {
            case .host: return quantizedKernelsUseAVX2
            case .x86_64_avx2, .x86_64_avx512: return true
            case .arm64, .portable: return false
            }
        }

        /// Whether the generated regular int8 convolutions take their AVX-512 VNNI path: on the
        /// AVX-512 target, and on the host when the kernels of this fercc build do.
        public var hasAVX512VNNI: Bool {
            switch self {
            case .host: return quantizedKernelsUseVNNI
            case .x86_64_avx512: return true
            case .x86_64_avx2, .arm64, .portable: return false
            }
        }
    }

    public var name: String
    public var weights: Weights
    public var target: Target
    public var labels: [String]?

    public init(name: String, weights: Weights = .embedded, target: Target = .host, labels: [String]? = nil) {
        self.name = name; self.weights = weights; self.target = target; self.labels = labels
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
    public var scratchFloats: Int
    public var weightFloats: Int
    public var layers: [LayerReport]
}

/// Emits a self-contained Swift inference class for a float IR graph: standard library only,
/// one arena planned from tensor lifetimes, weights decoded once, the interpreter's own kernels
/// (KernelSources) specialized by constant shapes at each call.
public struct SwiftEmitter {
    let graph: Graph
    let options: CodegenOptions
    /// The weights as 32-bit words: float bit patterns, int32 values and int8 bytes packed four to a word.
    var blob: [UInt32] = []
    var blobOffsets: [String: Int] = [:]
    var properties: [String] = []
    var initLines: [String] = []
    var body: [String] = []
    var arrays: [[Int]: String] = [:]
    var scratchFloats = 1
    var counter = 0
    var layerIndex = 0

    public static func emit(_ graph: Graph, options: CodegenOptions) throws -> GeneratedCode {
        var e = SwiftEmitter(graph: graph, options: options)
        return try e.run()
    }

    init(graph: Graph, options: CodegenOptions) {
        self.graph = graph
        self.options = options
    }

    mutating func run() throws -> GeneratedCode {
        guard graph.inputs.count == 1, graph.outputs.count == 1 else {
            throw FerccError("the code generator handles one input and one output (the model has \(graph.inputs.count) and \(graph.outputs.count))")
        }
        if let labels = options.labels {
            let count = graph.values[graph.outputs[0]]!.type.count
            guard labels.count == count else {
                throw FerccError("--labels names \(labels.count) classes, but the output '\(graph.outputs[0])' has \(count) values")
            }
        }
        for v in graph.values.values where !v.isConstant && v.type.dtype != .float32 && v.type.dtype != .int8 {
            throw FerccError("'\(v.name)' is \(v.type.dtype.rawValue): the code generator handles float32 and int8 tensors")
        }
        let plan = ArenaPlanner.plan(graph)
        var layers: [LayerReport] = []
        for (i, node) in graph.nodes.enumerated() {
            do {
                try emitNode(node, plan)
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
            let s = graph.stats(of: node)
            layers.append(LayerReport(index: i, name: node.name, op: node.op.name, output_shape: graph.values[node.outputs[0]]!.type.shape,
                                      weight_bytes: s.weightBytes, macs: s.macs))
        }
        let source = render(plan)
        let weightsSource = options.weights == .embedded ? renderWeights() : nil
        var file: [UInt8]?
        if options.weights == .file {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(blob.count * 4)
            for w in blob { let b = w.littleEndian; bytes += [UInt8(b & 0xff), UInt8((b >> 8) & 0xff), UInt8((b >> 16) & 0xff), UInt8(b >> 24)] }
            file = bytes
        }
        return GeneratedCode(kernelSource: source, weightsSource: weightsSource, weightsFile: file, arena: plan,
                             scratchFloats: scratchFloats, weightFloats: blob.count, layers: layers)
    }

    // MARK: helpers

    /// Adds constant data to the weights blob (64-byte aligned) and returns its offset in floats.
    mutating func addBlob(_ data: [Float]) -> Int {
        addWords(data.map(\.bitPattern))
    }

    mutating func addWords(_ words: [UInt32]) -> Int {
        while blob.count % 16 != 0 { blob.append(0) }
        let offset = blob.count
        blob += words
        return offset
    }

    /// int32 values; the offset is in 32-bit words (the generated code reads them through `i32`).
    mutating func addInt32(_ data: [Int32]) -> Int {
        addWords(data.map { UInt32(bitPattern: $0) })
    }

    /// int8 values packed four to a word (read through `i8`).
    mutating func addInt8(_ data: [Int8]) -> Int {
        var words = [UInt32](repeating: 0, count: (data.count + 3) / 4)
        for (i, v) in data.enumerated() { words[i / 4] |= UInt32(UInt8(bitPattern: v)) << UInt32(8 * (i % 4)) }
        return addWords(words)
    }

    mutating func constantOffset(_ name: String) throws -> Int {
        if let o = blobOffsets[name] { return o }
        guard let c = graph.values[name]?.constant else { throw FerccError("'\(name)' is not a constant") }
        let o: Int
        switch c {
        case .int8(let v): o = addInt8(v)
        case .int32(let v): o = addInt32(v)
        case .float(let v): o = addBlob(v)
        default: throw FerccError("'\(name)' is \(c.dtype.rawValue): not supported by the code generator")
        }
        blobOffsets[name] = o
        return o
    }

    /// The pointer expression of a value, typed by its element type: the arena for activations,
    /// the weights for constants.
    mutating func ptr(_ name: String, _ plan: ArenaPlan) throws -> String {
        let base: String
        if graph.values[name]?.isConstant == true {
            base = "(weights + \(try constantOffset(name)))"
        } else {
            guard let o = plan.offsets[name] else { throw FerccError("'\(name)' has no arena slot") }
            base = "(arena + \(o))"
        }
        switch graph.values[name]!.type.dtype {
        case .int8: return "i8\(base)"
        case .int32: return "i32\(base)"
        default: return base
        }
    }

    mutating func array(_ values: [Int]) -> String {
        if let n = arrays[values] { return n }
        let n = "shape\(arrays.count)"
        arrays[values] = n
        return n
    }

    mutating func fresh(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)\(counter)"
    }

    func count(_ name: String) -> Int { graph.values[name]!.type.count }
    func shape(_ name: String) -> [Int] { graph.values[name]!.type.shape }

    static func activation(_ a: FusedActivation) -> String? {
        switch a {
        case .none: return nil
        case .relu: return ".relu"
        case .relu6: return ".clip(min: 0, max: 6)"
        case .reluN1To1: return ".clip(min: -1, max: 1)"
        case .clip(let lo, let hi): return ".clip(min: \(float(lo)), max: \(float(hi)))"
        case .leakyRelu(let a): return ".leakyRelu(alpha: \(float(a)))"
        case .hardSwish: return ".hardSwish"
        case .sigmoid: return ".sigmoid"
        }
    }

    /// The kernel's `Activation` argument for a fused activation (`.identity` for none).
    static func kernelActivation(_ a: FusedActivation) -> String {
        activation(a).map { "Activation\($0)" } ?? "Activation.identity"
    }

    static func unaryActivation(_ u: UnaryOp) -> String {
        switch u {
        case .identity: return ".identity"
        case .relu: return ".relu"
        case .clip(let lo, let hi): return ".clip(min: \(float(lo)), max: \(float(hi)))"
        case .leakyRelu(let a): return ".leakyRelu(alpha: \(float(a)))"
        case .sigmoid: return ".sigmoid"
        case .hardSigmoid(let a, let b): return ".hardSigmoid(alpha: \(float(a)), beta: \(float(b)))"
        case .hardSwish: return ".hardSwish"
        case .tanh: return ".tanh"
        }
    }

    /// A Float literal that reads back to exactly `x`.
    static func float(_ x: Float) -> String {
        if x == .infinity { return "Float.infinity" }
        if x == -.infinity { return "-Float.infinity" }
        return "Float(bitPattern: 0x\(String(x.bitPattern, radix: 16)))"
    }

    static func geometry(_ g: (x: [Int], y: [Int]), kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int,
                         pads: (Int, Int, Int, Int), groups: Int) -> String {
        "Conv2DGeometry(batch: \(g.x[0]), inH: \(g.x[1]), inW: \(g.x[2]), inC: \(g.x[3]), outH: \(g.y[1]), outW: \(g.y[2]), outC: \(g.y[3]), "
            + "kernelH: \(kh), kernelW: \(kw), strideH: \(sh), strideW: \(sw), dilationH: \(dh), dilationW: \(dw), "
            + "padTop: \(pads.0), padLeft: \(pads.1), padBottom: \(pads.2), padRight: \(pads.3), groups: \(groups))"
    }

    /// The kernels' geometry value for a convolution (the same numbers `convGeometry` writes as code).
    static func kernelGeometry(_ c: Conv2D, _ x: [Int], _ y: [Int]) -> Conv2DGeometry {
        Conv2DGeometry(batch: x[0], inH: x[1], inW: x[2], inC: x[3], outH: y[1], outW: y[2], outC: y[3],
                       kernelH: c.kernelH, kernelW: c.kernelW, strideH: c.strideH, strideW: c.strideW,
                       dilationH: c.dilationH, dilationW: c.dilationW,
                       padTop: c.padTop, padLeft: c.padLeft, padBottom: c.padBottom, padRight: c.padRight, groups: c.groups)
    }

    static func convGeometry(_ c: Conv2D, _ x: [Int], _ y: [Int]) -> String {
        geometry((x, y), kh: c.kernelH, kw: c.kernelW, sh: c.strideH, sw: c.strideW, dh: c.dilationH, dw: c.dilationW,
                 pads: (c.padTop, c.padLeft, c.padBottom, c.padRight), groups: c.groups)
    }

    func buffer(_ offsetExpr: String, _ count: Int) -> String {
        "UnsafeBufferPointer(start: UnsafePointer(weights + \(offsetExpr)), count: \(count))"
    }

    // MARK: per node

    mutating func emitNode(_ node: Node, _ plan: ArenaPlan) throws {
        let out = node.outputs[0]
        let y = try ptr(out, plan)
        let comment = "// \(node.op.name) \(SwiftNames.commentText(node.name))"
        func activate(_ a: FusedActivation) {
            if let lit = Self.activation(a) { body.append("Activation\(lit).run(\(y), \(y), count: \(count(out)))") }
        }
        body.append(comment)
        defer {
            body.append("#if FERCC_PROFILE")
            body.append("profile.mark(\(layerIndex))")
            body.append("#endif")
            layerIndex += 1
        }
        let touchesInt8 = (node.inputs + node.outputs).contains { graph.values[$0]?.isConstant == false && graph.values[$0]?.type.dtype == .int8 }
        switch node.op {
        case .reshape, .transpose, .slice, .split, .channelShuffle, .pad:
            break  // element moves: the same code for every element type (typed pointers)
        case .concat where touchesInt8:
            if case .concat(_, let rescales, _)? = try QuantizedSpec.make(node, graph), rescales.allSatisfy({ $0 == nil }) { break }
            try emitQuantized(node, plan)
            return
        default:
            if touchesInt8 {
                try emitQuantized(node, plan)
                return
            }
        }
        switch node.op {
        case .conv2D(let c):
            let x = node.inputs[0], xs = shape(x), ys = shape(out)
            let w = node.inputs[1]
            guard graph.values[w]?.isConstant == true, node.inputs.count < 3 || graph.values[node.inputs[2]]?.isConstant == true else {
                throw FerccError("convolution weights computed at run time are not supported by the code generator")
            }
            let bias = node.inputs.count > 2 ? buffer("\(try constantOffset(node.inputs[2]))", count(node.inputs[2])) : "nil"
            let depthwise = c.groups == xs[3] && shape(w)[0] == xs[3] && shape(w)[3] == 1
            let type = depthwise ? "DepthwiseConv2DKernel" : "Conv2DKernel"
            // Weights stored already packed in the kernel's layout: init only copies them.
            let geo = Self.kernelGeometry(c, xs, ys)
            let raw = graph.values[w]!.constant!.floats
            let packed = raw.withUnsafeBufferPointer { depthwise ? DepthwiseConv2DKernel.pack(geometry: geo, weights: $0) : Conv2DKernel.pack(geometry: geo, weights: $0) }
            let po = addBlob(packed)
            let k = fresh("conv")
            properties.append("private let \(k): \(type)")
            // The kernel applies the fused activation itself (ReLU / clip in registers before the stores).
            let act = Self.activation(c.activation).map { ", activation: Activation\($0)" } ?? ""
            initLines.append("\(k) = \(type)(geometry: \(Self.convGeometry(c, xs, ys)), packed: \(buffer("\(po)", packed.count)), bias: \(bias)\(act))")
            initLines.append("scratchNeeded = max(scratchNeeded, \(k).scratchCount)")
            // The same kernel built here says exactly how much scratch it needs (for the report).
            scratchFloats = max(scratchFloats, packed.withUnsafeBufferPointer {
                depthwise ? DepthwiseConv2DKernel(geometry: geo, packed: $0, bias: nil).scratchCount : Conv2DKernel(geometry: geo, packed: $0, bias: nil).scratchCount
            })
            body.append("\(k).run(input: \(try ptr(x, plan)), output: \(y), scratch: scratch)")

        case .depthwisePointwise(let dw, let pw, _):
            let x = node.inputs[0]
            let mid = try ShapeInference.infer(.conv2D(dw), inputs: Array(node.inputs[0...2]).map { graph.values[$0]!.type })[0].shape
            guard node.inputs[1...].allSatisfy({ graph.values[$0]?.isConstant == true }) else { throw FerccError("DepthwisePointwise needs constant weights") }
            let dwGeo = Self.kernelGeometry(dw, shape(x), mid)
            let dwPacked = graph.values[node.inputs[1]]!.constant!.floats.withUnsafeBufferPointer { DepthwiseConv2DKernel.pack(geometry: dwGeo, weights: $0) }
            let pwGeo = DepthwisePointwiseKernel.pointwiseGeometry(dwGeo, rows: 1, outChannels: shape(out)[3])
            let pwPacked = graph.values[node.inputs[3]]!.constant!.floats.withUnsafeBufferPointer { Conv2DKernel.pack(geometry: pwGeo, weights: $0) }
            let dwo = addBlob(dwPacked), pwo = addBlob(pwPacked)
            let dwb = try constantOffset(node.inputs[2]), pwb = try constantOffset(node.inputs[4])
            let k = fresh("fused")
            properties.append("private let \(k): DepthwisePointwiseKernel")
            initLines.append("\(k) = DepthwisePointwiseKernel(depthwise: \(Self.convGeometry(dw, shape(x), mid)), "
                + "packedDepthwise: \(buffer("\(dwo)", dwPacked.count)), depthwiseBias: \(buffer("\(dwb)", count(node.inputs[2]))), "
                + "depthwiseActivation: \(Self.kernelActivation(dw.activation)), "
                + "packedPointwise: \(buffer("\(pwo)", pwPacked.count)), pointwiseBias: \(buffer("\(pwb)", count(node.inputs[4]))), "
                + "outChannels: \(shape(out)[3]), pointwiseActivation: \(Self.kernelActivation(pw.activation)))")
            initLines.append("scratchNeeded = max(scratchNeeded, \(k).scratchCount)")
            let zeros = [Float](repeating: 0, count: max(shape(out)[3], mid[3]))
            let fusedScratch = dwPacked.withUnsafeBufferPointer { d in pwPacked.withUnsafeBufferPointer { p in zeros.withUnsafeBufferPointer { z in
                DepthwisePointwiseKernel(depthwise: dwGeo, packedDepthwise: d, depthwiseBias: UnsafeBufferPointer(rebasing: z[0..<mid[3]]), depthwiseActivation: .identity,
                                         packedPointwise: p, pointwiseBias: UnsafeBufferPointer(rebasing: z[0..<shape(out)[3]]), outChannels: shape(out)[3],
                                         pointwiseActivation: .identity).scratchCount
            } } }
            scratchFloats = max(scratchFloats, fusedScratch)
            body.append("\(k).run(input: \(try ptr(x, plan)), output: \(y), scratch: scratch)")

        case .expandDepthwisePointwise(let ex, let dw, let pw):
            let x = node.inputs[0]
            guard node.inputs[1...].allSatisfy({ graph.values[$0]?.isConstant == true }) else { throw FerccError("ExpandDepthwisePointwise needs constant weights") }
            let expanded = try ShapeInference.infer(.conv2D(ex), inputs: Array(node.inputs[0...2]).map { graph.values[$0]!.type })[0].shape
            let mid = try ShapeInference.infer(.conv2D(dw), inputs: [expanded, shape(node.inputs[3]), shape(node.inputs[4])].map { TensorType(.float32, $0) })[0].shape
            let dwGeo = Self.kernelGeometry(dw, expanded, mid)
            let inC = shape(x)[3], outC = shape(out)[3]
            let g = graph
            let floats = { (i: Int) in g.values[node.inputs[i]]!.constant!.floats }
            let exPacked = floats(1).withUnsafeBufferPointer { Conv2DKernel.pack(geometry: ExpandDepthwisePointwiseKernel.expandGeometry(depthwise: dwGeo, inChannels: inC), weights: $0) }
            let dwPacked = floats(3).withUnsafeBufferPointer { DepthwiseConv2DKernel.pack(geometry: dwGeo, weights: $0) }
            let pwPacked = floats(5).withUnsafeBufferPointer { Conv2DKernel.pack(geometry: DepthwisePointwiseKernel.pointwiseGeometry(dwGeo, rows: 1, outChannels: outC), weights: $0) }
            let exo = addBlob(exPacked), dwo = addBlob(dwPacked), pwo = addBlob(pwPacked)
            let exb = try constantOffset(node.inputs[2]), dwb = try constantOffset(node.inputs[4]), pwb = try constantOffset(node.inputs[6])
            let k = fresh("fused")
            properties.append("private let \(k): ExpandDepthwisePointwiseKernel")
            initLines.append("\(k) = ExpandDepthwisePointwiseKernel(expandChannelsFrom: \(inC), packedExpand: \(buffer("\(exo)", exPacked.count)), "
                + "expandBias: \(buffer("\(exb)", count(node.inputs[2]))), expandActivation: \(Self.kernelActivation(ex.activation)), "
                + "depthwise: \(Self.convGeometry(dw, expanded, mid)), packedDepthwise: \(buffer("\(dwo)", dwPacked.count)), "
                + "depthwiseBias: \(buffer("\(dwb)", count(node.inputs[4]))), depthwiseActivation: \(Self.kernelActivation(dw.activation)), "
                + "packedPointwise: \(buffer("\(pwo)", pwPacked.count)), pointwiseBias: \(buffer("\(pwb)", count(node.inputs[6]))), "
                + "outChannels: \(outC), pointwiseActivation: \(Self.kernelActivation(pw.activation)))")
            initLines.append("scratchNeeded = max(scratchNeeded, \(k).scratchCount)")
            let zeros = [Float](repeating: 0, count: max(outC, mid[3]))
            let fusedScratch = exPacked.withUnsafeBufferPointer { e in dwPacked.withUnsafeBufferPointer { d in pwPacked.withUnsafeBufferPointer { p in zeros.withUnsafeBufferPointer { z in
                ExpandDepthwisePointwiseKernel(expandChannelsFrom: inC, packedExpand: e, expandBias: UnsafeBufferPointer(rebasing: z[0..<mid[3]]), expandActivation: .identity,
                                               depthwise: dwGeo, packedDepthwise: d, depthwiseBias: UnsafeBufferPointer(rebasing: z[0..<mid[3]]), depthwiseActivation: .identity,
                                               packedPointwise: p, pointwiseBias: UnsafeBufferPointer(rebasing: z[0..<outC]), outChannels: outC,
                                               pointwiseActivation: .identity).scratchCount
            } } } }
            scratchFloats = max(scratchFloats, fusedScratch)
            body.append("\(k).run(input: \(try ptr(x, plan)), output: \(y), scratch: scratch)")

        case .maxPool2D(let p), .averagePool2D(let p, _):
            let x = node.inputs[0]
            var kind = ".max"
            if case .averagePool2D(_, let inc) = node.op { kind = ".average(countIncludePad: \(inc))" }
            let k = fresh("pool")
            let geo = Self.geometry((shape(x), shape(out)), kh: p.kernelH, kw: p.kernelW, sh: p.strideH, sw: p.strideW, dh: p.dilationH, dw: p.dilationW,
                                    pads: (p.padTop, p.padLeft, p.padBottom, p.padRight), groups: 1)
            properties.append("private let \(k): Pool2DKernel")
            initLines.append("\(k) = Pool2DKernel(geometry: \(geo), kind: \(kind))")
            body.append("\(k).run(input: \(try ptr(node.inputs[0], plan)), output: \(y))")
            activate(p.activation)

        case .batchNorm(let axis, let eps):
            let xs = shape(node.inputs[0])
            let p = node.inputs[1...].map { graph.values[$0]?.constant?.floats }
            guard p.allSatisfy({ $0 != nil }) else { throw FerccError("BatchNorm parameters must be constant") }
            let a = batchNormScaleShift(gamma: p[0]!, beta: p[1]!, mean: p[2]!, variance: p[3]!, epsilon: eps)
            let so = addBlob(a.scale.map { Float($0) }), to = addBlob(a.shift.map { Float($0) })
            body.append("channelAffine(\(try ptr(node.inputs[0], plan)), \(y), scale: weights + \(so), shift: weights + \(to), "
                + "outer: \(xs[..<axis].reduce(1, *)), channels: \(xs[axis]), inner: \(xs[(axis + 1)...].reduce(1, *)))")

        case .gemm(let g):
            let a = shape(node.inputs[0]), b = shape(node.inputs[1])
            let (m, k) = g.transA ? (a[1], a[0]) : (a[0], a[1])
            let n = g.transB ? b[0] : b[1]
            guard let bd = graph.values[node.inputs[1]]?.constant?.floats else { throw FerccError("Gemm with weights computed at run time is not supported by the code generator") }
            var packed = [Float](repeating: 0, count: k * n)
            for kk in 0..<k { for nn in 0..<n { packed[kk * n + nn] = g.alpha * (g.transB ? bd[nn * k + kk] : bd[kk * n + nn]) } }
            let bo = addBlob(packed)
            var lhs = try ptr(node.inputs[0], plan)
            if g.transA {
                body.append("transpose(\(lhs), \(array(a)), perm: \(array([1, 0])), scratch)")
                scratchFloats = max(scratchFloats, m * k)
                lhs = "scratch"
            }
            body.append("matmul(\(lhs), weights + \(bo), \(y), m: \(m), k: \(k), n: \(n))")
            if node.inputs.count > 2, g.beta != 0 {
                guard let cd = graph.values[node.inputs[2]]?.constant?.floats else { throw FerccError("Gemm bias must be constant") }
                let cs = shape(node.inputs[2])
                let full = ShapeInference.broadcastShapes(cs, [m, n]) == [m, n]
                guard full else { throw FerccError("Gemm bias \(cs) does not broadcast") }
                let c = cd.map { $0 * g.beta }
                let co = addBlob(c)
                body.append("binaryBroadcast(.add, \(y), \(array([m, n])), weights + \(co), \(array(cs)), \(y), \(array([m, n])))")
            }
            activate(g.activation)

        case .matMul:
            var a = shape(node.inputs[0]), b = shape(node.inputs[1])
            if a.count == 1 { a = [1] + a }
            if b.count == 1 { b = b + [1] }
            guard a.count == 2, b.count == 2 else { throw FerccError("batched MatMul is not supported by the code generator yet") }
            body.append("matmul(\(try ptr(node.inputs[0], plan)), \(try ptr(node.inputs[1], plan)), \(y), m: \(a[0]), k: \(a[1]), n: \(b[1]))")

        case .binary(let op, let act):
            let kind: String
            switch op {
            case .add: kind = ".add"
            case .sub: kind = ".sub"
            case .mul: kind = ".mul"
            case .div: kind = ".div"
            }
            body.append("binaryBroadcast(\(kind), \(try ptr(node.inputs[0], plan)), \(array(shape(node.inputs[0]))), "
                + "\(try ptr(node.inputs[1], plan)), \(array(shape(node.inputs[1]))), \(y), \(array(shape(out))))")
            activate(act)

        case .unary(let u):
            body.append("Activation\(Self.unaryActivation(u)).run(\(try ptr(node.inputs[0], plan)), \(y), count: \(count(out)))")

        case .prelu:
            body.append("prelu(\(try ptr(node.inputs[0], plan)), \(array(shape(node.inputs[0]))), \(try ptr(node.inputs[1], plan)), "
                + "\(array(shape(node.inputs[1]))), \(y))")

        case .reduce(let kind, let axes, _):
            let op: String
            switch kind {
            case .mean: op = ".mean"
            case .max: op = ".max"
            case .sum: op = ".sum"
            }
            body.append("reduce(\(try ptr(node.inputs[0], plan)), \(array(shape(node.inputs[0]))), axes: \(array(axes)), \(op), \(y))")

        case .softmax(let axis, let beta):
            let xs = shape(node.inputs[0])
            body.append("softmax(\(try ptr(node.inputs[0], plan)), \(y), outer: \(xs[..<axis].reduce(1, *)), axis: \(xs[axis]), "
                + "inner: \(xs[(axis + 1)...].reduce(1, *)), beta: \(Self.float(beta)))")

        case .reshape:
            // Aliases its input in the arena (ArenaPlanner); a constant input is copied.
            if graph.values[node.inputs[0]]?.isConstant == true {
                body.append("\(y).update(from: \(try ptr(node.inputs[0], plan)), count: \(count(out)))")
            } else {
                body.removeLast()
            }

        case .transpose(let perm):
            body.append("transpose(\(try ptr(node.inputs[0], plan)), \(array(shape(node.inputs[0]))), perm: \(array(perm)), \(y))")

        case .channelShuffle(let groups, let axis):
            let xs = shape(node.inputs[0])
            let view = [xs[..<axis].reduce(1, *), groups, xs[axis] / groups, xs[(axis + 1)...].reduce(1, *)]
            body.append("transpose(\(try ptr(node.inputs[0], plan)), \(array(view)), perm: \(array([0, 2, 1, 3])), \(y))")

        case .concat(let axis):
            let os = shape(out)
            let outStrides = stridesOf(os)
            var offset = 0
            for input in node.inputs {
                let s = shape(input)
                body.append("stridedCopy(\(try ptr(input, plan)), \(array(stridesOf(s))), \(y) + \(offset * outStrides[axis]), \(array(outStrides)), \(array(s)))")
                offset += s[axis]
            }

        case .split(let axis, _):
            let xs = shape(node.inputs[0])
            let inStrides = stridesOf(xs)
            var offset = 0
            for o in node.outputs {
                let s = shape(o)
                body.append("stridedCopy(\(try ptr(node.inputs[0], plan)) + \(offset * inStrides[axis]), \(array(inStrides)), \(try ptr(o, plan)), \(array(stridesOf(s))), \(array(s)))")
                offset += s[axis]
            }

        case .slice(let s):
            let inStrides = stridesOf(shape(node.inputs[0]))
            let base = zip(s.starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let strides = zip(s.steps, inStrides).map { $0 * $1 }
            if count(out) > 0 {
                body.append("stridedCopy(\(try ptr(node.inputs[0], plan)) + \(base), \(array(strides)), \(y), \(array(stridesOf(s.sizes))), \(array(s.sizes)))")
            }

        case .pad(let pads, let value):
            var fill = Self.float(value)
            let t = graph.values[node.inputs[0]]!.type
            if t.dtype == .int8 {
                guard let q = t.quantization else { throw FerccError("quantized Pad input has no quantization") }
                fill = "Int8(\(min(max(Int32((value / q.scale).rounded(.toNearestOrAwayFromZero)) + q.zeroPoint, -128), 127)))"
            } else if t.dtype != .float32 {
                throw FerccError("Pad on \(t.dtype.rawValue) is not supported by the code generator")
            }
            body.append("pad(\(try ptr(node.inputs[0], plan)), \(array(shape(node.inputs[0]))), pads: \(array(pads)), value: \(fill), \(y))")

        case .resize2D(let r):
            let xs = shape(node.inputs[0])
            body.append("resizeNHWC(\(try ptr(node.inputs[0], plan)), \(y), batch: \(xs[0]), inH: \(xs[1]), inW: \(xs[2]), channels: \(xs[3]), "
                + "outH: \(r.outH), outW: \(r.outW), bilinear: \(r.bilinear), alignCorners: \(r.alignCorners), halfPixelCenters: \(r.halfPixelCenters))")

        case .quantize, .dequantize:
            throw FerccError("\(node.op.name) between \(graph.values[node.inputs[0]]!.type.dtype.rawValue) and \(graph.values[out]!.type.dtype.rawValue) is not supported by the code generator")
        }
    }
}
