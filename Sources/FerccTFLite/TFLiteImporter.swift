import FerccIR

/// Turns a TFLite model (first subgraph) into an IR graph. TFLite is NHWC already, so spatial ops
/// map one to one; each op family lives in its own file and only translates.
public enum TFLiteImporter {
    typealias OpImporter = (TFLiteImportContext) throws -> Void

    /// Builtin op name -> (importer, highest op version fercc knows).
    static let importers: [String: (importer: OpImporter, maxVersion: Int)] = {
        var m: [String: (OpImporter, Int)] = [:]
        for table in [
            convImporters, fullyConnectedImporters, elementwiseImporters, poolImporters, reduceImporters,
            activationImporters, shapeImporters, quantizationImporters, resizeImporters
        ] {
            for (k, v) in table { m[k] = v }
        }
        return m.mapValues { (importer: $0.0, maxVersion: $0.1) }
    }()

    public static var supportedOps: [String] { importers.keys.sorted() }

    /// Each supported op's int8 support and notes, for the supported-op table (docs/ops.md).
    public static let notes: [String: (int8: String, note: String)] = {
        var m: [String: (int8: String, note: String)] = [:]
        for table in [
            convNotes, fullyConnectedNotes, elementwiseNotes, poolNotes, reduceNotes, activationNotes, shapeNotes,
            quantizationNotes, resizeNotes
        ] {
            for (k, v) in table { m[k] = v }
        }
        return m
    }()

    /// The highest version of each supported op that fercc knows.
    public static var maxVersions: [String: Int] { importers.mapValues(\.maxVersion) }

    /// How CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with float input and int8 or uint8
    /// weights (dynamic-range models) compute.
    public enum HybridArithmetic: String, Sendable, CaseIterable {
        /// As LiteRT's hybrid kernels: the input quantized to int8 on the fly (DynamicQuantize),
        /// then the weights' int8 values times their scale.
        case litert
        /// The weights dequantized, everything in float.
        case float
    }

    public static func importModel(path: String, hybrid: HybridArithmetic = .litert) throws -> Graph {
        let model = try TFLiteReader.read(path: path)
        do {
            return try importModel(model, hybrid: hybrid)
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    public static func importModel(_ model: TFLiteModel, hybrid: HybridArithmetic = .litert) throws -> Graph {
        guard model.subgraphCount == 1 else {
            throw FerccError(
                "the model has \(model.subgraphCount) subgraphs (control flow or signatures with their own graphs); "
                    + "fercc reads single-subgraph models"
            )
        }
        try checkSupported(model)
        let ctx = TFLiteImportContext(model: model, hybrid: hybrid)
        for idx in model.inputs {
            let t = try ctx.type(of: idx)
            guard model.tensors[idx].data == nil else { continue }
            guard t.dtype == .float32 || t.dtype.isQuantized else {
                throw FerccError(
                    "graph input '\(model.tensors[idx].name)' is \(t.dtype.rawValue); fercc takes float32, int8 or "
                        + "uint8 inputs"
                )
            }
            var shape = t.shape
            if shape.first == 0 { shape[0] = 1 }
            let name = ctx.name(idx)
            ctx.graph.values[name] = Value(name: name, type: TensorType(t.dtype, shape, quantization: t.quantization))
            ctx.graph.inputs.append(name)
        }
        guard !ctx.graph.inputs.isEmpty else { throw FerccError("the graph has no inputs") }
        for op in model.operators {
            ctx.op = op
            let opName = TFLiteOp.name(op.builtinCode)
            let outName = op.outputs.first.map { model.tensors[$0].name } ?? ""
            do {
                guard !op.outputs.isEmpty else { throw FerccError("\(opName) has no output") }
                try importers[opName]!.importer(ctx)
            } catch let e as FerccError {
                throw e.atNode("\(opName) #\(op.index) '\(outName)'")
            }
        }
        for idx in model.outputs {
            let name = ctx.name(idx)
            guard ctx.graph.values[name] != nil else {
                throw FerccError("graph output '\(model.tensors[idx].name)' is never computed")
            }
            ctx.graph.outputs.append(name)
        }
        ctx.graph.removeDeadCode()
        try ctx.graph.validate()
        return ctx.graph
    }

    /// One error listing every unsupported op (custom ones by their custom code), and op versions
    /// newer than fercc knows.
    static func checkSupported(_ model: TFLiteModel) throws {
        var missing: [String] = []
        var seen = Set<String>()
        for op in model.operators {
            let name = op.customCode.map { "CUSTOM(\($0))" } ?? TFLiteOp.name(op.builtinCode)
            let outName = op.outputs.first.map { model.tensors[$0].name } ?? ""
            if let entry = importers[name], op.customCode == nil {
                if op.version > entry.maxVersion {
                    throw FerccError(
                        node: "\(name) #\(op.index) '\(outName)'",
                        "\(name) version \(op.version) is newer than fercc knows (up to \(entry.maxVersion))")
                }
                continue
            }
            if seen.insert(name).inserted { missing.append("\(name) (first at operator #\(op.index) '\(outName)')") }
        }
        guard missing.isEmpty else { throw FerccError("unsupported ops: \(missing.joined(separator: ", "))") }
    }
}

extension TFLiteImportContext {
    var options: TFLiteOptions { op.options }

    func fusedActivation() throws -> Activation {
        switch options.fusedActivation {
        case 0: return .identity
        case 1: return .relu
        case 2: return .reluN1To1
        case 3: return .relu6
        default:
            throw FerccError("fused activation \(options.fusedActivation == 4 ? "TANH" : "SIGN_BIT") is not supported")
        }
    }

    /// SAME padding as TFLite computes it (the odd pixel goes to the end), or none for VALID.
    func padding(
        inH: Int, inW: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, dilationH: Int, dilationW: Int
    ) throws
        -> (top: Int, left: Int, bottom: Int, right: Int)
    {
        guard strideH > 0, strideW > 0, dilationH > 0, dilationW > 0, kernelH > 0, kernelW > 0 else {
            throw FerccError(
                "strides \(strideH)x\(strideW), dilations \(dilationH)x\(dilationW) and kernel "
                    + "\(kernelH)x\(kernelW) must be positive"
            )
        }
        guard options.padding == 0 else { return (0, 0, 0, 0) }
        func axis(_ size: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
            let out = (size + s - 1) / s
            let total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            return (total / 2, total - total / 2)
        }
        let h = axis(inH, kernelH, strideH, dilationH), w = axis(inW, kernelW, strideW, dilationW)
        return (h.0, w.0, h.1, w.1)
    }

    /// A constant weight input; int8/uint8 weights of a float op (dynamic-range models) are
    /// dequantized here. The weights of a hybrid op (`hybridWeights`) are read as LiteRT's hybrid
    /// kernels read them: the bytes as int8 (uint8 ones reinterpreted), times the scale, the zero
    /// point ignored.
    func weightValue(_ i: Int, floatOp: Bool, hybridWeights: Bool = false) throws -> String {
        let name = try value(i)
        let v = graph.values[name]!
        guard floatOp, v.type.dtype.isQuantized || v.type.dtype == .int32, let c = v.constant else { return name }
        guard let q = v.type.quantization else {
            throw FerccError(
                "\(opName) input \(i) is \(v.type.dtype.rawValue) without quantization parameters in a float op")
        }
        if hybridWeights, v.type.dtype.isQuantized {
            let raw = c.floats.map { $0 >= 128 ? $0 - 256 : $0 }
            let scales = hybridScales(q, dtype: v.type.dtype)
            let axis = q.axis ?? 0
            let strides = stridesOf(v.type.shape)
            let out = raw.indices.map { k in
                let ch = scales.count > 1 && axis < v.type.rank ? (k / strides[axis]) % v.type.shape[axis] : 0
                return raw[k] * scales[ch]
            }
            let dq = fresh("\(name)#dequantized")
            graph.addConstant(dq, .float(out), shape: v.type.shape)
            return dq
        }
        let values = c.floats
        let axis = q.axis ?? 0
        let strides = stridesOf(v.type.shape)
        let dims = v.type.shape
        var out = [Float](repeating: 0, count: values.count)
        for i in 0..<values.count {
            let ch = q.scales.count > 1 && axis < dims.count ? (i / strides[axis]) % dims[axis] : 0
            out[i] = q.scales[ch] * (values[i] - Float(q.zeroPoints[min(ch, q.zeroPoints.count - 1)]))
        }
        let dq = fresh("\(name)#dequantized")
        graph.addConstant(dq, .float(out), shape: dims)
        return dq
    }

    /// Whether this float op's weight input `i` makes it a hybrid op in LiteRT (int8 or uint8
    /// constant weights with quantization parameters).
    func isHybrid(weights i: Int) -> Bool {
        guard op.inputs.count > i, op.inputs[i] >= 0, let name = try? value(i), let v = graph.values[name] else {
            return false
        }
        return (v.type.dtype == .int8 || v.type.dtype == .uint8) && v.constant != nil && v.type.quantization != nil
    }

    /// Whether a hybrid CONV_2D runs LiteRT's per-channel kernel (which quantizes its input
    /// asymmetrically): int8 weights whose scales are not all equal.
    func hybridPerChannel(weights i: Int) -> Bool {
        guard let name = try? value(i), let t = graph.values[name]?.type, t.dtype == .int8, let q = t.quantization
        else {
            return false
        }
        return hybridScales(q, dtype: t.dtype).count > 1
    }

    /// The scales LiteRT's hybrid kernels use: per channel when they are not all equal, otherwise
    /// the first; CONV_2D's per-channel kernel takes int8 weights only (conv.cc's
    /// `is_hybrid_per_channel`), so uint8 weights run its per-tensor kernel with the first scale.
    func hybridScales(_ q: Quantization, dtype: DType) -> [Float] {
        let perChannel = q.scales.count > 1 && Set(q.scales).count > 1 && (dtype == .int8 || opName != "CONV_2D")
        return perChannel ? q.scales : [q.scales[0]]
    }

    /// The float input `x` of a hybrid op as LiteRT's kernel computes with it: quantized to int8
    /// on the fly (`asymmetric` as the op's kernel does), unless `--hybrid float`.
    func hybridInput(_ x: String, asymmetric: Bool) throws -> String {
        guard hybrid == .litert else { return x }
        return try emitIntermediate(
            .dynamicQuantize(asymmetric: asymmetric), inputs: [x], base: "\(x)#dynamic_int8", quantization: nil)
    }
}
