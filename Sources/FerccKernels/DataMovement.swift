/// Copies `shape` elements from `src` read with `srcStrides` to `dst` written with `dstStrides`:
/// the one loop behind transpose, slice, concat, split and pad.
public func stridedCopy<T>(_ src: UnsafePointer<T>, _ srcStrides: [Int],
                           _ dst: UnsafeMutablePointer<T>, _ dstStrides: [Int], _ shape: [Int]) {
    let rank = shape.count
    if rank == 0 { dst[0] = src[0]; return }
    if shape.contains(0) { return }
    let inner = shape[rank - 1], si = srcStrides[rank - 1], di = dstStrides[rank - 1]
    var index = [Int](repeating: 0, count: rank)
    var offS = 0, offD = 0
    while true {
        let ps = src + offS, pd = dst + offD
        if si == 1 && di == 1 {
            pd.update(from: ps, count: inner)
        } else {
            for i in 0..<inner { pd[i * di] = ps[i * si] }
        }
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            offS += srcStrides[axis]; offD += dstStrides[axis]
            if index[axis] < shape[axis] { break }
            offS -= srcStrides[axis] * shape[axis]; offD -= dstStrides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
        if axis < 0 { return }
    }
}

/// Row-major strides of a shape.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

public func transpose<T>(_ x: UnsafePointer<T>, _ shape: [Int], perm: [Int], _ y: UnsafeMutablePointer<T>) {
    let inStrides = contiguousStrides(shape)
    let outShape = perm.map { shape[$0] }
    stridedCopy(x, perm.map { inStrides[$0] }, y, contiguousStrides(outShape), outShape)
}

/// Constant padding; `pads` holds the begins of every axis, then the ends. Negative pads crop.
public func pad<T>(_ x: UnsafePointer<T>, _ shape: [Int], pads: [Int], value: T, _ y: UnsafeMutablePointer<T>) {
    let rank = shape.count
    let outShape = (0..<rank).map { shape[$0] + pads[$0] + pads[$0 + rank] }
    let total = outShape.reduce(1, *)
    y.update(repeating: value, count: total)
    // The copied region: the input minus what negative pads crop.
    var region = [Int](), srcOff = 0, dstOff = 0
    let si = contiguousStrides(shape), so = contiguousStrides(outShape)
    for a in 0..<rank {
        let cropBegin = max(-pads[a], 0), cropEnd = max(-pads[a + rank], 0)
        region.append(max(shape[a] - cropBegin - cropEnd, 0))
        srcOff += cropBegin * si[a]
        dstOff += max(pads[a], 0) * so[a]
    }
    stridedCopy(x + srcOff, si, y + dstOff, so, region)
}

/// Reduction over `axes`; the output holds the reduced axes as length 1.
public enum ReduceOperation: Sendable { case mean, max, sum }

public func reduce(_ x: UnsafePointer<Float>, _ shape: [Int], axes: [Int], _ operation: ReduceOperation, _ y: UnsafeMutablePointer<Float>) {
    let mean = operation == .mean
    let isMax = operation == .max
    let rank = shape.count
    var outShape = shape
    for a in axes { outShape[a] = 1 }
    let outCount = outShape.reduce(1, *)
    let total = shape.reduce(1, *)
    y.update(repeating: isMax ? -.infinity : 0, count: outCount)
    if total == 0 { return }
    let outStrides = contiguousStrides(outShape)
    var readStrides = outStrides
    for a in axes { readStrides[a] = 0 }
    var index = [Int](repeating: 0, count: rank)
    var off = 0
    for i in 0..<total {
        if !isMax { y[off] += x[i] } else if x[i] > y[off] || x[i].isNaN { y[off] = x[i] }
        var axis = rank - 1
        while axis >= 0 {
            index[axis] += 1
            off += readStrides[axis]
            if index[axis] < shape[axis] { break }
            off -= readStrides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    if mean {
        let n = Float(total / outCount)
        for i in 0..<outCount { y[i] /= n }
    }
}

/// Softmax of beta * x along the middle axis of [outer, axis, inner], max-subtracted, exp in double precision.
public func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int, beta: Float = 1) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * axis * inner + i
            var m = -Float.infinity
            for k in 0..<axis { m = max(m, x[base + k * inner]) }
            var sum = 0.0
            for k in 0..<axis {
                let e = KernelMath.exp(Double(x[base + k * inner] - m) * Double(beta))
                y[base + k * inner] = Float(e)
                sum += e
            }
            let inv = 1 / sum
            for k in 0..<axis { y[base + k * inner] = Float(Double(y[base + k * inner]) * inv) }
        }
    }
}
