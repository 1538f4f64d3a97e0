/// Depthwise convolution (one input and one output channel per group) of an NHWC tensor,
/// vectorized over channels. Weights are packed as [kh][kw][C].
public struct DepthwiseConv2DKernel: Sendable {
    public let geometry: Conv2DGeometry
    let packed: [Float]
    let bias: [Float]
    let activation: Activation
    /// ReLU / clip applied in registers before each store (see OutputClamp).
    let clamp: OutputClamp?

    /// weights: OHWI [C, kh, kw, 1]; bias: [C] or nil.
    public init(geometry g: Conv2DGeometry, weights: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, activation: Activation = .identity) {
        let p = Self.pack(geometry: g, weights: weights)
        self = p.withUnsafeBufferPointer { DepthwiseConv2DKernel(geometry: g, packed: $0, bias: bias, activation: activation) }
    }

    /// From weights already in the packed layout (`pack`), as generated code stores them.
    public init(geometry g: Conv2DGeometry, packed: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?, activation: Activation = .identity) {
        geometry = g
        self.packed = Array(packed)
        self.bias = bias.map { Array($0) } ?? [Float](repeating: 0, count: g.outC)
        self.activation = activation
        clamp = OutputClamp(activation)
    }

    /// OHWI [C, kh, kw, 1] weights in the kernel's layout: [kh][kw][C].
    public static func pack(geometry g: Conv2DGeometry, weights: UnsafeBufferPointer<Float>) -> [Float] {
        let c = g.outC, taps = g.kernelH * g.kernelW
        var p = [Float](repeating: 0, count: taps * c)
        for ch in 0..<c {
            for t in 0..<taps { p[t * c + ch] = weights[ch * taps + t] }
        }
        return p
    }

    public var scratchCount: Int {
        geometry.hasPadding ? geometry.batch * geometry.paddedH * geometry.paddedW * geometry.inC : 0
    }

    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry
        let src = padded(input, scratch: scratch)
        for n in 0..<g.batch {
            computeRows(block: src + n * g.paddedH * g.paddedW * g.inC, blockFirstRow: 0, rows: 0..<g.outH,
                        output: output + n * g.outH * g.outW * g.outC)
        }
    }

    /// Padded input rows the output rows `rows` read: [first, end) in padded coordinates.
    public func paddedRows(for rows: Range<Int>) -> Range<Int> {
        let g = geometry
        return (rows.lowerBound * g.strideH)..<((rows.upperBound - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + 1)
    }

    /// Writes padded rows `padded` of image `n` of the unpadded `input` into `block` (zeros outside the image).
    public func padRows(_ input: UnsafePointer<Float>, image n: Int, padded: Range<Int>, into block: UnsafeMutablePointer<Float>) {
        let g = geometry
        let rowFloats = g.paddedW * g.inC
        for (i, p) in padded.enumerated() {
            let dst = block + i * rowFloats
            let y = p - g.padTop
            if y < 0 || y >= g.inH {
                dst.update(repeating: 0, count: rowFloats)
                continue
            }
            dst.update(repeating: 0, count: g.padLeft * g.inC)
            (dst + g.padLeft * g.inC).update(from: input + ((n * g.inH + y) * g.inW) * g.inC, count: g.inW * g.inC)
            (dst + (g.padLeft + g.inW) * g.inC).update(repeating: 0, count: g.padRight * g.inC)
        }
    }

    /// The input with its padding materialized (in `scratch` when there is padding).
    public func padded(_ input: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let g = geometry
        guard g.hasPadding else { return input }
        padNHWC(input, scratch, batch: g.batch, h: g.inH, w: g.inW, c: g.inC,
                top: g.padTop, left: g.padLeft, bottom: g.padBottom, right: g.padRight, fill: 0)
        return UnsafePointer(scratch)
    }

    /// Output rows `rows`, written to `output` from its start (row rows.lowerBound first), reading
    /// `block`, which holds the padded input of one image from padded row `blockFirstRow` on.
    public func computeRows(block src: UnsafePointer<Float>, blockFirstRow: Int, rows: Range<Int>, output: UnsafeMutablePointer<Float>) {
        switch clamp {
        case nil: computeRows(src, blockFirstRow, rows, output, NoClamp())
        case .relu?: computeRows(src, blockFirstRow, rows, output, ReluClamp())
        case .clip(let lo, let hi)?: computeRows(src, blockFirstRow, rows, output, ClipClamp(low: lo, high: hi))
        }
    }

    /// computeRows specialized for each kind of clamp.
    private func computeRows<C: VectorClamp>(_ src: UnsafePointer<Float>, _ blockFirstRow: Int, _ rows: Range<Int>, _ output: UnsafeMutablePointer<Float>, _ clamp: C) {
        let g = geometry
        let pw = g.paddedW, c = g.inC
        let lanes = FloatVector.scalarCount
        let full = c / lanes * lanes
        let rowActivation: Activation? = self.clamp == nil && activation != .identity ? activation : nil
        let scalarActivation: Activation = self.clamp == nil ? .identity : activation
        packed.withUnsafeBufferPointer { wbuf in
            bias.withUnsafeBufferPointer { bbuf in
                let w0 = wbuf.baseAddress!, b0 = bbuf.baseAddress!
                do {
                    for oh in rows {
                        let outRow = output + (oh - rows.lowerBound) * g.outW * c
                        let inRow = src + (oh * g.strideH - blockFirstRow) * pw * c
                        var ch = 0
                        if g.kernelH == 3 && g.kernelW == 3 {
                            // 3x3: the nine weight vectors of a channel block stay in registers across the row.
                            let dy = g.dilationH * pw * c, dx = g.dilationW * c, sx = g.strideW * c
                            while ch < full {
                                let wb = w0 + ch
                                let k0 = loadVector(wb), k1 = loadVector(wb + c), k2 = loadVector(wb + 2 * c)
                                let k3 = loadVector(wb + 3 * c), k4 = loadVector(wb + 4 * c), k5 = loadVector(wb + 5 * c)
                                let k6 = loadVector(wb + 6 * c), k7 = loadVector(wb + 7 * c), k8 = loadVector(wb + 8 * c)
                                let bv = loadVector(b0 + ch)
                                var x = inRow + ch
                                var o = outRow + ch
                                var ow = 0
                                #if FERCC_AVX512
                                if sx == c && dx == c {
                                    // Stride and dilation 1, 32 vector registers: four pixels at
                                    // once share their input loads (6 per kernel row, not 12).
                                    // Each pixel still sums bias, then taps 0...8 in order.
                                    @inline(__always) func kernelRow(_ p: UnsafePointer<Float>, _ ka: FloatVector, _ kb: FloatVector, _ kc: FloatVector,
                                                                     _ a0: inout FloatVector, _ a1: inout FloatVector, _ a2: inout FloatVector, _ a3: inout FloatVector) {
                                        let v0 = loadVector(p), v1 = loadVector(p + c), v2 = loadVector(p + 2 * c)
                                        let v3 = loadVector(p + 3 * c), v4 = loadVector(p + 4 * c), v5 = loadVector(p + 5 * c)
                                        a0 = multiplyAdd(multiplyAdd(multiplyAdd(a0, v0, ka), v1, kb), v2, kc)
                                        a1 = multiplyAdd(multiplyAdd(multiplyAdd(a1, v1, ka), v2, kb), v3, kc)
                                        a2 = multiplyAdd(multiplyAdd(multiplyAdd(a2, v2, ka), v3, kb), v4, kc)
                                        a3 = multiplyAdd(multiplyAdd(multiplyAdd(a3, v3, ka), v4, kb), v5, kc)
                                    }
                                    while ow + 4 <= g.outW {
                                        var a0 = bv, a1 = bv, a2 = bv, a3 = bv
                                        kernelRow(x, k0, k1, k2, &a0, &a1, &a2, &a3)
                                        kernelRow(x + dy, k3, k4, k5, &a0, &a1, &a2, &a3)
                                        kernelRow(x + 2 * dy, k6, k7, k8, &a0, &a1, &a2, &a3)
                                        storeVector(clamp.apply(a0), o); storeVector(clamp.apply(a1), o + c)
                                        storeVector(clamp.apply(a2), o + 2 * c); storeVector(clamp.apply(a3), o + 3 * c)
                                        x += 4 * c
                                        o += 4 * c
                                        ow += 4
                                    }
                                }
                                #endif
                                while ow < g.outW {
                                    ow += 1
                                    var acc = multiplyAdd(bv, loadVector(x), k0)
                                    acc = multiplyAdd(acc, loadVector(x + dx), k1)
                                    acc = multiplyAdd(acc, loadVector(x + 2 * dx), k2)
                                    acc = multiplyAdd(acc, loadVector(x + dy), k3)
                                    acc = multiplyAdd(acc, loadVector(x + dy + dx), k4)
                                    acc = multiplyAdd(acc, loadVector(x + dy + 2 * dx), k5)
                                    acc = multiplyAdd(acc, loadVector(x + 2 * dy), k6)
                                    acc = multiplyAdd(acc, loadVector(x + 2 * dy + dx), k7)
                                    acc = multiplyAdd(acc, loadVector(x + 2 * dy + 2 * dx), k8)
                                    acc = clamp.apply(acc)
                                    storeVector(acc, o)
                                    x += sx
                                    o += c
                                }
                                ch += lanes
                            }
                            if ch + 8 <= c {
                                // 8 to 15 channels left (an 8-channel layer): the same on one 8-lane vector.
                                let wb = w0 + ch
                                let k0 = loadVector8(wb), k1 = loadVector8(wb + c), k2 = loadVector8(wb + 2 * c)
                                let k3 = loadVector8(wb + 3 * c), k4 = loadVector8(wb + 4 * c), k5 = loadVector8(wb + 5 * c)
                                let k6 = loadVector8(wb + 6 * c), k7 = loadVector8(wb + 7 * c), k8 = loadVector8(wb + 8 * c)
                                let bv = loadVector8(b0 + ch)
                                var x = inRow + ch
                                var o = outRow + ch
                                for _ in 0..<g.outW {
                                    var acc = multiplyAdd8(bv, loadVector8(x), k0)
                                    acc = multiplyAdd8(acc, loadVector8(x + dx), k1)
                                    acc = multiplyAdd8(acc, loadVector8(x + 2 * dx), k2)
                                    acc = multiplyAdd8(acc, loadVector8(x + dy), k3)
                                    acc = multiplyAdd8(acc, loadVector8(x + dy + dx), k4)
                                    acc = multiplyAdd8(acc, loadVector8(x + dy + 2 * dx), k5)
                                    acc = multiplyAdd8(acc, loadVector8(x + 2 * dy), k6)
                                    acc = multiplyAdd8(acc, loadVector8(x + 2 * dy + dx), k7)
                                    acc = multiplyAdd8(acc, loadVector8(x + 2 * dy + 2 * dx), k8)
                                    storeVector8(clamp.apply(acc), o)
                                    x += sx
                                    o += c
                                }
                                ch += 8
                            }
                        }
                        for ow in 0..<g.outW {
                            let o = outRow + ow * c
                            let corner = inRow + ow * g.strideW * c
                            var cv = ch
                            while cv < full {
                                var acc = loadVector(b0 + cv)
                                for kh in 0..<g.kernelH {
                                    let row = corner + kh * g.dilationH * pw * c + cv
                                    let wrow = w0 + kh * g.kernelW * c + cv
                                    for kw in 0..<g.kernelW {
                                        acc = multiplyAdd(acc, loadVector(row + kw * g.dilationW * c), loadVector(wrow + kw * c))
                                    }
                                }
                                acc = clamp.apply(acc)
                                storeVector(acc, o + cv)
                                cv += lanes
                            }
                            if cv + 8 <= c {  // 8 to 15 channels left: one 8-lane vector
                                var acc = loadVector8(b0 + cv)
                                for kh in 0..<g.kernelH {
                                    let row = corner + kh * g.dilationH * pw * c + cv
                                    let wrow = w0 + kh * g.kernelW * c + cv
                                    for kw in 0..<g.kernelW {
                                        acc = multiplyAdd8(acc, loadVector8(row + kw * g.dilationW * c), loadVector8(wrow + kw * c))
                                    }
                                }
                                storeVector8(clamp.apply(acc), o + cv)
                                cv += 8
                            }
                            while cv < c {
                                var acc = b0[cv]
                                for kh in 0..<g.kernelH {
                                    for kw in 0..<g.kernelW {
                                        acc += corner[(kh * g.dilationH * pw + kw * g.dilationW) * c + cv] * w0[(kh * g.kernelW + kw) * c + cv]
                                    }
                                }
                                o[cv] = scalarActivation.apply(acc)
                                cv += 1
                            }
                        }
                        if let a = rowActivation { a.run(outRow, outRow, count: g.outW * c) }
                    }
                }
            }
        }
    }
}
