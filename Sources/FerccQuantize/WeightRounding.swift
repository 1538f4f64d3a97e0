import FerccIR
import FerccRuntime

/// How float weights become int8 levels (their scales are the same either way: `WeightClipping`'s,
/// per output channel or per tensor).
public enum WeightRounding: String, CaseIterable, Sendable {
    /// Each weight to its nearest level (TFLite's and onnxruntime's rounding).
    case nearest
    /// Each layer's weights rounded one input position at a time, the error of each rounding
    /// compensated by the weights not yet rounded, so that the layer's outputs on the calibration
    /// inputs stay as close as they can (`ErrorCompensatedRounding`).
    case gptq
}

/// A layer's int8 weights chosen before quantizing, with the scales they were rounded on (the
/// quantizer stores both rather than searching the scales again).
public struct RoundedWeights: Sendable, Equatable {
    public var levels: [Int8]
    public var quantization: Quantization

    public init(levels: [Int8], quantization: Quantization) {
        self.levels = levels
        self.quantization = quantization
    }
}

/// GPTQ (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
/// Pre-trained Transformers", the column-by-column form of Optimal Brain Quantization) for
/// convolutions and fully connected layers. For a layer with weight rows w (one per output
/// channel, over the K input positions of its window) and calibration input windows x, the
/// output error of rounded weights q is sum over windows of ((q - w) . x)^2 = (q - w) H (q - w)^T
/// with H = sum x x^T. Rounding position i to its nearest level leaves an error e_i that the
/// positions after it can absorb: with U the upper Cholesky factor of H^-1, the rows' remaining
/// weights move by -(e_i / U_ii) U_i,j. Each row keeps its scale and every level stays in
/// [-127, 127]: the int8 kernels compute exactly as before, on better levels.
///
/// H is measured on the float graph's inputs of each layer (the calibration samples, at most
/// `windowsPerLayer` windows in all, evenly spaced), damped by 1% of its mean diagonal (as the
/// paper) so that positions the samples never excite keep their nearest levels.
public enum ErrorCompensatedRounding {
    public struct Result: Sendable {
        /// The rounded weights of each layer (by node name), in the layout `Quantizer` quantizes:
        /// OHWI for convolutions, [outputs, depth] for Gemm.
        public var weights: [String: RoundedWeights] = [:]
        /// Layers left to nearest rounding and why (node name: reason), in graph order.
        public var nearest: [(node: String, reason: String)] = []
    }

    /// Windows of each layer taken over all samples (evenly spaced over each sample's output
    /// pixels): H costs windows x K^2 / 2 multiply-adds (ResNet18's 1152-input layers: 11 G each).
    static let windowsPerLayer = 16384
    /// Largest window (K) solved: H and its factors take 3 K^2 doubles and about K^3 operations
    /// (ResNet18's 2304- and 4608-input layers took 3 of the 3.5 minutes GPTQ then cost it, and
    /// its error did not change).
    static let maxDepth = 1152
    /// Bytes of all layers' H together (they are accumulated in one pass over the samples).
    static let budgetBytes = 512 << 20
    static let damping = 0.01

    /// The layers that will be quantized to int8 (conv2D and gemm with constant float weights),
    /// but not `skip`, rounded with GPTQ on `samples` (inputs of the graph's first input).
    /// `progress` gets the steps done: one per sample, then one per layer solved.
    public static func round(
        _ g: Graph, samples: [[Float]], perTensor: Bool, clipping: WeightClipping = .none, skip: Set<String>,
        progress: (Int) -> Void = { _ in }
    ) throws -> Result {
        var result = Result()
        var layers: [Layer] = []
        var bytes = 0
        for node in g.nodes where !skip.contains(node.name) {
            guard let layer = Layer(node, in: g) else { continue }
            if layer.depth > maxDepth {
                result.nearest.append((node.name, "window of \(layer.depth) inputs (at most \(maxDepth))"))
                continue
            }
            let need = layer.groups * layer.depth * layer.depth * 8
            if bytes + need > budgetBytes {
                result.nearest.append((node.name, "memory budget"))
            } else {
                bytes += need
                layers.append(layer)
            }
        }
        guard !layers.isEmpty, !samples.isEmpty else { return result }
        let interpreter = try Interpreter(graph: g, keepingAll: true)
        for (n, s) in samples.enumerated() {
            let computed = try interpreter.run(tensors: [g.inputs[0]: .float(s)], keepingAll: true)
            for i in layers.indices {
                guard case .float(let x)? = computed[layers[i].node.inputs[0]] else { continue }
                layers[i].accumulate(x, windows: Swift.max(1, windowsPerLayer / samples.count))
            }
            progress(n + 1)
        }
        for (n, layer) in layers.enumerated() {
            defer { progress(samples.count + n + 1) }
            if let q = layer.solve(perTensor: perTensor, clipping: clipping) {
                result.weights[layer.node.name] = q
            } else {
                result.nearest.append((layer.node.name, "no finite input correlation to factor"))
            }
        }
        return result
    }

    /// One layer: its weights as rows of `depth` per group, and H per group (upper triangle).
    struct Layer {
        let node: Node
        let weights: [Float]
        let outC: Int, groups: Int, depth: Int
        /// Convolution geometry; nil for Gemm.
        let conv: Conv2D?
        let inShape: [Int], outShape: [Int]
        var hessians: [[Double]]

        init?(_ node: Node, in g: Graph) {
            guard node.inputs.count >= 2, let wv = g.values[node.inputs[1]], case .float(let w)? = wv.constant,
                w.allSatisfy(\.isFinite), let inT = g.values[node.inputs[0]]?.type, inT.dtype == .float32,
                let outT = g.values[node.outputs[0]]?.type
            else { return nil }
            switch node.op {
            case .conv2D(let c):
                guard wv.type.rank == 4, inT.rank == 4, outT.rank == 4, c.groups > 0,
                    wv.type.shape[3] * c.groups == inT.shape[3], wv.type.shape[0] % c.groups == 0
                else { return nil }
                weights = w
                outC = wv.type.shape[0]
                groups = c.groups
                depth = c.kernelH * c.kernelW * wv.type.shape[3]
                conv = c
            case .gemm(let gm):
                guard !gm.transA, wv.type.rank == 2, inT.rank == 2 else { return nil }
                let (rows, n, k) = gm.outputRows(w, shape: wv.type.shape)
                guard inT.shape[1] == k else { return nil }
                weights = rows
                outC = n
                groups = 1
                depth = k
                conv = nil
            default:
                return nil
            }
            guard depth > 0, weights.count == outC * depth else { return nil }
            self.node = node
            inShape = inT.shape
            outShape = outT.shape
            hessians = [[Double]](repeating: [], count: groups)
        }

        /// Adds about `windows` windows of one sample's input `x` to H (a value that is not finite counts as 0).
        mutating func accumulate(_ x: [Float], windows: Int) {
            guard x.count == inShape.reduce(1, *) else { return }
            if hessians[0].isEmpty {
                for i in hessians.indices { hessians[i] = [Double](repeating: 0, count: depth * depth) }
            }
            var patch = [Double](repeating: 0, count: depth)
            guard let c = conv else {
                let rows = inShape[0]
                for r in 0..<rows {
                    for i in 0..<depth { patch[i] = finite(x[r * depth + i]) }
                    addOuter(patch, group: 0)
                }
                return
            }
            let (n, h, w, ch) = (inShape[0], inShape[1], inShape[2], inShape[3])
            let (oh, ow) = (outShape[1], outShape[2])
            let cig = ch / groups
            let pixels = n * oh * ow
            var step = Swift.max(1, pixels / windows)
            if step > 1 && step % ow == 0 { step += 1 }  // not the same columns in every row
            var p = 0
            while p < pixels {
                let b = p / (oh * ow), y = (p / ow) % oh, xo = p % ow
                for grp in 0..<groups {
                    var i = 0
                    for kh in 0..<c.kernelH {
                        let iy = y * c.strideH - c.padTop + kh * c.dilationH
                        for kw in 0..<c.kernelW {
                            let ix = xo * c.strideW - c.padLeft + kw * c.dilationW
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                let base = ((b * h + iy) * w + ix) * ch + grp * cig
                                for ci in 0..<cig { patch[i + ci] = finite(x[base + ci]) }
                            } else {
                                for ci in 0..<cig { patch[i + ci] = 0 }
                            }
                            i += cig
                        }
                    }
                    addOuter(patch, group: grp)
                }
                p += step
            }
        }

        @inline(__always) func finite(_ v: Float) -> Double { v.isFinite ? Double(v) : 0 }

        /// H += patch patch^T, upper triangle only, four doubles at a time.
        mutating func addOuter(_ patch: [Double], group: Int) {
            let k = depth
            hessians[group].withUnsafeMutableBufferPointer { hb in
                patch.withUnsafeBufferPointer { xb in
                    let h = hb.baseAddress!, x = xb.baseAddress!
                    for i in 0..<k where x[i] != 0 {
                        let xi = x[i], row = h + i * k
                        var j = i
                        while j + 4 <= k {
                            let hv = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD4<Double>.self)
                            let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Double>.self)
                            UnsafeMutableRawPointer(row + j).storeBytes(
                                of: hv.addingProduct(xv, xi), as: SIMD4<Double>.self)
                            j += 4
                        }
                        while j < k {
                            row[j] += xi * x[j]
                            j += 1
                        }
                    }
                }
            }
        }

        /// The rounded weights, or nil when a group's H cannot be factored. Positions are rounded
        /// in window order (kernel row, column, input channel); the paper's "act order" (largest
        /// H_ii first) measured no better here (FER mini-Xception over 4 splits 0.00374 against
        /// 0.00367 mean |error|, ShuffleNetV2 0.000721 against 0.000723; before the window bounds).
        func solve(perTensor: Bool, clipping: WeightClipping = .none) -> RoundedWeights? {
            let perGroup = outC / groups, k = depth
            // The scales nearest rounding would use (GPTQ changes only the levels).
            let quantization = WeightQuantization.symmetric(
                weights, slices: perTensor ? 1 : outC, clipping: clipping
            ).quantization
            let scales = quantization.scales
            var out = [Int8](repeating: 0, count: weights.count)
            for grp in 0..<groups {
                guard hessians[grp].count == k * k, let u = ErrorCompensatedRounding.inverseFactor(hessians[grp], k)
                else { return nil }
                for o in (grp * perGroup)..<((grp + 1) * perGroup) {
                    let scale = Double(scales[perTensor ? 0 : o])
                    var rest = weights[(o * k)..<((o + 1) * k)].map(Double.init)
                    for i in 0..<k {
                        let q = Swift.min(Swift.max((rest[i] / scale).rounded(), -127), 127)
                        out[o * k + i] = Int8(q)
                        let e = (rest[i] - q * scale) / u[i * k + i]
                        if e != 0 { for j in (i + 1)..<k { rest[j] -= e * u[i * k + j] } }
                    }
                }
            }
            return RoundedWeights(levels: out, quantization: quantization)
        }
    }

    /// The upper Cholesky factor U of (H + damping)^-1 (U^T U), H given by its upper triangle
    /// (k x k, row-major); positions H never excited get a unit diagonal. nil if not positive definite.
    static func inverseFactor(_ upper: [Double], _ k: Int) -> [Double]? {
        var h = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in i..<k { h[i * k + j] = upper[i * k + j]; h[j * k + i] = upper[i * k + j] } }
        var mean = 0.0
        for i in 0..<k {
            if h[i * k + i] <= 0 { h[i * k + i] = 1 }
            mean += h[i * k + i]
        }
        let damp = damping * mean / Double(k)
        for i in 0..<k { h[i * k + i] += damp }
        guard let l = cholesky(h, k) else { return nil }
        // L^-1 (lower), then H^-1 = L^-T L^-1.
        var li = [Double](repeating: 0, count: k * k)
        for j in 0..<k {
            li[j * k + j] = 1 / l[j * k + j]
            for i in (j + 1)..<k {
                var s = 0.0
                for m in j..<i { s += l[i * k + m] * li[m * k + j] }
                li[i * k + j] = -s / l[i * k + i]
            }
        }
        var inv = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in i..<k {
                var s = 0.0
                for m in j..<k { s += li[m * k + i] * li[m * k + j] }
                inv[i * k + j] = s
                inv[j * k + i] = s
            }
        }
        guard let m = cholesky(inv, k) else { return nil }
        var u = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in i..<k { u[i * k + j] = m[j * k + i] } }
        return u
    }

    /// Lower Cholesky factor of a symmetric k x k matrix, or nil if it is not positive definite.
    static func cholesky(_ a: [Double], _ k: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: k * k)
        for j in 0..<k {
            var d = a[j * k + j]
            for m in 0..<j { d -= l[j * k + m] * l[j * k + m] }
            guard d > 0, d.isFinite else { return nil }
            let r = d.squareRoot()
            l[j * k + j] = r
            for i in (j + 1)..<k {
                var s = a[i * k + j]
                for m in 0..<j { s -= l[i * k + m] * l[j * k + m] }
                l[i * k + j] = s / r
            }
        }
        return l
    }
}
