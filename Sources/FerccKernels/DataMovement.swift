/// Copies `shape` elements from `src` read with `srcStrides` to `dst` written with `dstStrides`:
/// the one loop behind transpose, slice, concat, split and pad. Its odometer lives on the stack,
/// so it allocates nothing.
public func stridedCopy<T>(_ src: UnsafePointer<T>, _ srcStrides: [Int],
                           _ dst: UnsafeMutablePointer<T>, _ dstStrides: [Int], _ shape: [Int]) {
    srcStrides.withUnsafeBufferPointer { ss in dstStrides.withUnsafeBufferPointer { ds in shape.withUnsafeBufferPointer { sh in
        stridedCopy(src, ss, dst, ds, sh)
    } } }
}

public func stridedCopy<T>(_ src: UnsafePointer<T>, _ srcStrides: UnsafeBufferPointer<Int>,
                           _ dst: UnsafeMutablePointer<T>, _ dstStrides: UnsafeBufferPointer<Int>, _ shape: UnsafeBufferPointer<Int>) {
    if shape.isEmpty { dst[0] = src[0]; return }
    for d in shape where d == 0 { return }
    // Simplify the loop nest first (any order visits the same pairs of elements): drop axes of
    // extent 1, merge axes that are contiguous in both tensors, and when the innermost loop is
    // short, move inside the axis of at least 8 elements with the smallest strides (else the
    // longest). A channel shuffle over NHWC is [pixels, C/g, g] with a trailing axis of extent 1:
    // element by element through the odometer otherwise (8 ns each); now C/g runs inside.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * shape.count) { tmp in
        let n = tmp.baseAddress!, ss = n + shape.count, ds = ss + shape.count
        var rank = 0
        for axis in 0..<shape.count where shape[axis] != 1 {
            if rank > 0, ss[rank - 1] == srcStrides[axis] * shape[axis], ds[rank - 1] == dstStrides[axis] * shape[axis] {
                n[rank - 1] *= shape[axis]; ss[rank - 1] = srcStrides[axis]; ds[rank - 1] = dstStrides[axis]
            } else {
                n[rank] = shape[axis]; ss[rank] = srcStrides[axis]; ds[rank] = dstStrides[axis]
                rank += 1
            }
        }
        if rank == 0 { dst[0] = src[0]; return }
        if n[rank - 1] < 16 {
            var pick = rank - 1
            for axis in 0..<rank where n[axis] > n[pick] { pick = axis }
            var best = Int.max
            for axis in 0..<rank where n[axis] >= 8 {
                let cost = abs(ss[axis]) + abs(ds[axis])
                if cost < best { best = cost; pick = axis }
            }
            swap(&n[pick], &n[rank - 1]); swap(&ss[pick], &ss[rank - 1]); swap(&ds[pick], &ds[rank - 1])
        }
        stridedCopyLoops(src, ss, dst, ds, n, rank)
    }
}

@inline(__always)
func stridedCopyLoops<T>(_ src: UnsafePointer<T>, _ srcStrides: UnsafeMutablePointer<Int>, _ dst: UnsafeMutablePointer<T>,
                         _ dstStrides: UnsafeMutablePointer<Int>, _ shape: UnsafeMutablePointer<Int>, _ rank: Int) {
    let inner = shape[rank - 1], si = srcStrides[rank - 1], di = dstStrides[rank - 1]
    withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
        index.initialize(repeating: 0)
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

/// Writes the row-major strides of `shape` into `strides`.
@inline(__always)
func writeStrides(_ shape: UnsafeBufferPointer<Int>, _ strides: UnsafeMutableBufferPointer<Int>) {
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
}

/// `y` = `x` transposed by `perm` (output axis i is input axis perm[i]); allocates nothing.
public func transpose<T>(_ x: UnsafePointer<T>, _ shape: [Int], perm: [Int], _ y: UnsafeMutablePointer<T>) {
    let rank = shape.count
    #if arch(x86_64) && FERCC_AVX2
    // A channel shuffle of two groups on bytes (int8 ShuffleNet): vector interleave.
    if MemoryLayout<T>.stride == 1, rank == 4, perm == [0, 2, 1, 3], shape[1] == 2, shape[3] == 1, shape[2] >= 16 {
        interleaveHalvesAVX2(UnsafeRawPointer(x), UnsafeMutableRawPointer(y), pixels: shape[0], half: shape[2])
        return
    }
    #endif
    // The same on floats: four channels of each half per step, a partial last step redoing the
    // four before it.
    if T.self == Float.self, rank == 4, perm == [0, 2, 1, 3], shape[1] == 2, shape[3] == 1, shape[2] >= 4 {
        let h = shape[2]
        let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), yf = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
        for p in 0..<shape[0] {
            let a = xf + p * 2 * h, b = a + h, out = yf + p * 2 * h
            var j = 0
            while j < h {
                let at = min(j, h - 4)
                let va = UnsafeRawPointer(a + at).loadUnaligned(as: SIMD4<Float>.self), vb = UnsafeRawPointer(b + at).loadUnaligned(as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(out + 2 * at).storeBytes(of: SIMD8(va[0], vb[0], va[1], vb[1], va[2], vb[2], va[3], vb[3]), as: SIMD8<Float>.self)
                j += 4
            }
        }
        return
    }
    // NCHW to NHWC with few channels (a model's image input): each pixel's channels gathered
    // from the planes, three at a time for RGB (the generic loop strides through one plane).
    if rank == 4, perm == [0, 2, 3, 1], shape[1] <= 4 {
        let c = shape[1], hw = shape[2] * shape[3]
        for n in 0..<shape[0] {
            let src = x + n * c * hw, dst = y + n * c * hw
            if c == 3 {
                let p0 = src, p1 = src + hw, p2 = src + 2 * hw
                for i in 0..<hw { dst[3 * i] = p0[i]; dst[3 * i + 1] = p1[i]; dst[3 * i + 2] = p2[i] }
            } else {
                for i in 0..<hw { for k in 0..<c { dst[i * c + k] = src[k * hw + i] } }
            }
        }
        return
    }
    shape.withUnsafeBufferPointer { sh in perm.withUnsafeBufferPointer { pm in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * max(rank, 1)) { tmp in
            let inStrides = UnsafeMutableBufferPointer(rebasing: tmp[0..<rank])
            let outShape = UnsafeMutableBufferPointer(rebasing: tmp[rank..<(2 * rank)])
            let outStrides = UnsafeMutableBufferPointer(rebasing: tmp[(2 * rank)..<(3 * rank)])
            let readStrides = UnsafeMutableBufferPointer(rebasing: tmp[(3 * rank)..<(4 * rank)])
            writeStrides(sh, inStrides)
            for i in 0..<rank { outShape[i] = sh[pm[i]]; readStrides[i] = inStrides[pm[i]] }
            writeStrides(UnsafeBufferPointer(outShape), outStrides)
            stridedCopy(x, UnsafeBufferPointer(readStrides), y, UnsafeBufferPointer(outStrides), UnsafeBufferPointer(outShape))
        }
    } }
}

/// Constant padding; `pads` holds the begins of every axis, then the ends. Negative pads crop.
/// Allocates nothing.
public func pad<T>(_ x: UnsafePointer<T>, _ shape: [Int], pads: [Int], value: T, _ y: UnsafeMutablePointer<T>) {
    let rank = shape.count
    shape.withUnsafeBufferPointer { sh in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * max(rank, 1)) { tmp in
            let outShape = UnsafeMutableBufferPointer(rebasing: tmp[0..<rank])
            let si = UnsafeMutableBufferPointer(rebasing: tmp[rank..<(2 * rank)])
            let so = UnsafeMutableBufferPointer(rebasing: tmp[(2 * rank)..<(3 * rank)])
            let region = UnsafeMutableBufferPointer(rebasing: tmp[(3 * rank)..<(4 * rank)])
            var total = 1
            for a in 0..<rank { outShape[a] = sh[a] + pads[a] + pads[a + rank]; total *= outShape[a] }
            y.update(repeating: value, count: total)
            writeStrides(sh, si)
            writeStrides(UnsafeBufferPointer(outShape), so)
            // The copied region: the input minus what negative pads crop.
            var srcOff = 0, dstOff = 0
            for a in 0..<rank {
                let cropBegin = max(-pads[a], 0), cropEnd = max(-pads[a + rank], 0)
                region[a] = max(sh[a] - cropBegin - cropEnd, 0)
                srcOff += cropBegin * si[a]
                dstOff += max(pads[a], 0) * so[a]
            }
            stridedCopy(x + srcOff, UnsafeBufferPointer(si), y + dstOff, UnsafeBufferPointer(so), UnsafeBufferPointer(region))
        }
    }
}

/// Reduction over `axes`; the output holds the reduced axes as length 1.
public enum ReduceOperation: Sendable { case mean, max, sum }

/// Allocates nothing.
public func reduce(_ x: UnsafePointer<Float>, _ shape: [Int], axes: [Int], _ operation: ReduceOperation, _ y: UnsafeMutablePointer<Float>) {
    let rank = shape.count
    let isMax = operation == .max
    var total = 1, outCount = 1
    for (a, d) in shape.enumerated() { total *= d; if !axes.contains(a) { outCount *= d } }
    y.update(repeating: isMax ? -.infinity : 0, count: outCount)
    if total == 0 { return }
    // The kept axes after the last reduced one are a run contiguous in both x and y (a global
    // average pool over NHWC: the channels): the odometer steps over the axes before them, and
    // each step combines a whole run. Every output still takes its inputs in the same order.
    var outer = rank
    while outer > 0 && !axes.contains(outer - 1) { outer -= 1 }
    var run = 1
    for a in outer..<rank { run *= shape[a] }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * max(rank, 1)) { tmp in
        let readStrides = UnsafeMutableBufferPointer(rebasing: tmp[0..<rank])
        let index = UnsafeMutableBufferPointer(rebasing: tmp[rank..<(2 * rank)])
        var s = run
        for a in stride(from: outer - 1, through: 0, by: -1) {
            let reduced = axes.contains(a)
            readStrides[a] = reduced ? 0 : s
            if !reduced { s *= shape[a] }
            index[a] = 0
        }
        var off = 0
        for i in 0..<(total / run) {
            let src = x + i * run, dst = y + off
            if isMax {
                for j in 0..<run where src[j] > dst[j] || src[j].isNaN { dst[j] = src[j] }
            } else {
                for j in 0..<run { dst[j] += src[j] }
            }
            var axis = outer - 1
            while axis >= 0 {
                index[axis] += 1
                off += readStrides[axis]
                if index[axis] < shape[axis] { break }
                off -= readStrides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
    if operation == .mean {
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
