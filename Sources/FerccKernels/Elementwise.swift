/// Binary arithmetic with numpy broadcasting. Operand strides are given per output axis
/// (0 on broadcast axes); the innermost axis runs as a contiguous loop where it can.
public enum BinaryKind: Sendable { case add, sub, mul, div }

@inline(__always)
func apply(_ kind: BinaryKind, _ x: Float, _ y: Float) -> Float {
    switch kind {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    }
}

/// Strides of `shape` (right-aligned to `rank` axes) for reading it broadcast to an output of that rank.
public func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let rank = outShape.count
    var strides = [Int](repeating: 0, count: rank)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let axis = i + rank - shape.count
        strides[axis] = shape[i] == 1 && outShape[axis] != 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

public func binaryBroadcast(_ kind: BinaryKind,
                            _ a: UnsafePointer<Float>, _ aShape: [Int],
                            _ b: UnsafePointer<Float>, _ bShape: [Int],
                            _ out: UnsafeMutablePointer<Float>, _ outShape: [Int]) {
    var total = 1
    for d in outShape { total *= d }
    if total == 0 { return }
    if aShape == bShape {
        for i in 0..<total { out[i] = apply(kind, a[i], b[i]) }
        return
    }
    let rank = outShape.count
    // Strides and odometer on the stack: nothing is allocated per call.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * max(rank, 1)) { tmp in
        let sa = UnsafeMutableBufferPointer(rebasing: tmp[0..<rank])
        let sb = UnsafeMutableBufferPointer(rebasing: tmp[rank..<(2 * rank)])
        let index = UnsafeMutableBufferPointer(rebasing: tmp[(2 * rank)..<(3 * rank)])
        func fill(_ shape: [Int], _ strides: UnsafeMutableBufferPointer<Int>) {
            var s = 1
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                let i = axis - (rank - shape.count)
                if i < 0 { strides[axis] = 0; continue }
                strides[axis] = shape[i] == 1 && outShape[axis] != 1 ? 0 : s
                s *= shape[i]
            }
        }
        fill(aShape, sa)
        fill(bShape, sb)
        index.initialize(repeating: 0)
        let inner = rank == 0 ? 1 : outShape[rank - 1]
        let ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1]
        var offA = 0, offB = 0, o = 0
        while o < total {
            let pa = a + offA, pb = b + offB, po = out + o
            switch (ia, ib) {
            case (1, 1): for i in 0..<inner { po[i] = apply(kind, pa[i], pb[i]) }
            case (1, 0): let y = pb[0]; for i in 0..<inner { po[i] = apply(kind, pa[i], y) }
            case (0, 1): let x = pa[0]; for i in 0..<inner { po[i] = apply(kind, x, pb[i]) }
            default: for i in 0..<inner { po[i] = apply(kind, pa[i * ia], pb[i * ib]) }
            }
            o += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                offA += sa[axis]; offB += sb[axis]
                if index[axis] < outShape[axis] { break }
                offA -= sa[axis] * outShape[axis]; offB -= sb[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Activation functions, in place or from `x` to `y` (which may alias).
public enum Activation: Equatable, Sendable {
    case identity
    case relu
    case clip(min: Float, max: Float)
    case leakyRelu(alpha: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case tanh

    @inline(__always)
    public func apply(_ v: Float) -> Float {
        switch self {
        case .identity: return v
        case .relu: return v > 0 ? v : 0
        case .clip(let lo, let hi): return Swift.min(Swift.max(v, lo), hi)
        case .leakyRelu(let alpha): return v >= 0 ? v : v * alpha
        case .sigmoid: return KernelMath.sigmoid(v)
        case .hardSigmoid(let alpha, let beta): return Swift.min(Swift.max(alpha * v + beta, 0), 1)
        case .hardSwish: return v * Swift.min(Swift.max(v / 6 + 0.5, 0), 1)
        case .tanh: return KernelMath.tanh(v)
        }
    }

    public func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        // Plain compare-and-select loops: LLVM turns them into vector max/min. The standard
        // library's pointwiseMin/pointwiseMax on SIMD16<Float> stay scalar (measured 10x slower).
        switch self {
        case .identity:
            if UnsafePointer(y) != x { y.update(from: x, count: count) }
        case .relu:
            for i in 0..<count { let v = x[i]; y[i] = v > 0 ? v : 0 }
        case .clip(let lo, let hi):
            // min(max(x, lo), hi): with lo > hi every value becomes hi, as ONNX's Clip specifies.
            for i in 0..<count { let v = x[i]; let a = v < lo ? lo : v; y[i] = a > hi ? hi : a }
        case .leakyRelu(let alpha):
            for i in 0..<count { let v = x[i]; y[i] = v >= 0 ? v : v * alpha }
        case .hardSwish:
            for i in 0..<count {
                let v = x[i]
                let t = v / 6 + 0.5
                y[i] = v * (t < 0 ? 0 : (t > 1 ? 1 : t))
            }
        default:
            for i in 0..<count { y[i] = apply(x[i]) }
        }
    }
}

/// PRelu: y = x >= 0 ? x : slope * x, slope broadcast to x.
public func prelu(_ x: UnsafePointer<Float>, _ xShape: [Int], _ slope: UnsafePointer<Float>, _ slopeShape: [Int],
                  _ y: UnsafeMutablePointer<Float>) {
    binaryBroadcast(.mul, x, xShape, slope, slopeShape, y, xShape)
    let n = xShape.reduce(1, *)
    for i in 0..<n where x[i] >= 0 { y[i] = x[i] }
}

/// y = x * scale[c] + shift[c] with c the index on the channel axis: [outer, channels, inner].
public func channelAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                          outer: Int, channels: Int, inner: Int) {
    if inner == 1 {
        for o in 0..<outer {
            let px = x + o * channels, py = y + o * channels
            for c in 0..<channels { py[c] = px[c] * scale[c] + shift[c] }
        }
        return
    }
    for o in 0..<outer {
        for c in 0..<channels {
            let base = (o * channels + c) * inner
            let s = scale[c], t = shift[c]
            for i in 0..<inner { y[base + i] = x[base + i] * s + t }
        }
    }
}

/// Bilinear or nearest-neighbour resize of an NHWC tensor with TFLite's coordinate rules
/// (align_corners, half_pixel_centers).
public func resizeNHWC(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int,
                       outH: Int, outW: Int, bilinear: Bool, alignCorners: Bool, halfPixelCenters: Bool) {
    func scale(_ i: Int, _ o: Int) -> Float {
        alignCorners && o > 1 ? Float(i - 1) / Float(o - 1) : Float(i) / Float(o)
    }
    let sh = scale(inH, outH), sw = scale(inW, outW)
    for n in 0..<batch {
        for oy in 0..<outH {
            for ox in 0..<outW {
                let out = y + ((n * outH + oy) * outW + ox) * channels
                if bilinear {
                    let fy = halfPixelCenters ? (Float(oy) + 0.5) * sh - 0.5 : Float(oy) * sh
                    let fx = halfPixelCenters ? (Float(ox) + 0.5) * sw - 0.5 : Float(ox) * sw
                    let y0 = max(Int(KernelMath.round(fy, .down)), 0), x0 = max(Int(KernelMath.round(fx, .down)), 0)
                    let y1 = min(Int(KernelMath.round(fy, .up)), inH - 1), x1 = min(Int(KernelMath.round(fx, .up)), inW - 1)
                    let dy = fy - Float(Int(KernelMath.round(fy, .down))), dx = fx - Float(Int(KernelMath.round(fx, .down)))
                    for c in 0..<channels {
                        func at(_ yy: Int, _ xx: Int) -> Float { x[((n * inH + yy) * inW + xx) * channels + c] }
                        out[c] = at(y0, x0) * (1 - dy) * (1 - dx) + at(y1, x0) * dy * (1 - dx)
                            + at(y0, x1) * (1 - dy) * dx + at(y1, x1) * dy * dx
                    }
                } else {
                    let offset: Float = halfPixelCenters ? 0.5 : 0
                    var iy = Int(alignCorners ? KernelMath.round(((Float(oy) + offset) * sh), .toNearestOrAwayFromZero) : KernelMath.round(((Float(oy) + offset) * sh), .down))
                    var ix = Int(alignCorners ? KernelMath.round(((Float(ox) + offset) * sw), .toNearestOrAwayFromZero) : KernelMath.round(((Float(ox) + offset) * sw), .down))
                    iy = min(max(iy, 0), inH - 1)
                    ix = min(max(ix, 0), inW - 1)
                    (out).update(from: x + ((n * inH + iy) * inW + ix) * channels, count: channels)
                }
            }
        }
    }
}
