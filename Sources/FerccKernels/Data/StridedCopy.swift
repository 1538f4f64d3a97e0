// fercc-kernel requires(neon): Data/ARM64/StridedCopy+NEON.swift

extension Kernels {
    /// Copies `shape` elements from `src` read with `srcStrides` to `dst` written with `dstStrides`:
    /// the one loop behind transpose, slice, concat, split and pad. Its odometer lives on the stack,
    /// so it allocates nothing.
    public static func stridedCopy<T>(
        _ src: UnsafePointer<T>, _ srcStrides: [Int],
        _ dst: UnsafeMutablePointer<T>, _ dstStrides: [Int], _ shape: [Int]
    ) {
        srcStrides.withUnsafeBufferPointer { ss in
            dstStrides.withUnsafeBufferPointer { ds in
                shape.withUnsafeBufferPointer { sh in
                    stridedCopy(src, ss, dst, ds, sh)
                }
            }
        }
    }

    public static func stridedCopy<T>(
        _ src: UnsafePointer<T>, _ srcStrides: UnsafeBufferPointer<Int>,
        _ dst: UnsafeMutablePointer<T>, _ dstStrides: UnsafeBufferPointer<Int>, _ shape: UnsafeBufferPointer<Int>
    ) {
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
                if rank > 0, ss[rank - 1] == srcStrides[axis] * shape[axis],
                    ds[rank - 1] == dstStrides[axis] * shape[axis]
                {
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
    static func stridedCopyLoops<T>(
        _ src: UnsafePointer<T>, _ srcStrides: UnsafeMutablePointer<Int>, _ dst: UnsafeMutablePointer<T>,
        _ dstStrides: UnsafeMutablePointer<Int>, _ shape: UnsafeMutablePointer<Int>, _ rank: Int
    ) {
        #if arch(arm64)
        if stridedZip2(src, srcStrides, dst, dstStrides, shape, rank) { return }
        #endif
        let inner = shape[rank - 1], si = srcStrides[rank - 1], di = dstStrides[rank - 1]
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
            index.initialize(repeating: 0)
            var offS = 0, offD = 0
            while true {
                let ps = src + offS, pd = dst + offD
                if si == 1 && di == 1 {
                    copyBytes(UnsafeMutableRawPointer(pd), UnsafeRawPointer(ps), count: inner * MemoryLayout<T>.stride)
                } else {
                    // Pointers stepped, not indices multiplied (each `i * di` is an overflow-checked
                    // multiply): a channel shuffle's element copies took 2x the instructions.
                    var a = ps, b = pd
                    for _ in 0..<inner {
                        b.pointee = a.pointee
                        a += si
                        b += di
                    }
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

    /// Copies `count` bytes (non-overlapping buffers). Runs of 4 to 64 bytes, as a padded channel
    /// axis or an int8 pixel, are two loads and two stores of the largest word that fits (the
    /// second ending at the run's end, overlapping the first); a memmove call for each was 6% of
    /// the face detector's int8 inference (its padded copies and channel pads of 24-42 bytes).
    @inline(__always)
    static func copyBytes(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, count: Int) {
        @inline(__always) func two<W>(_: W.Type) {
            let last = count &- MemoryLayout<W>.size
            let a = src.loadUnaligned(as: W.self), b = src.loadUnaligned(fromByteOffset: last, as: W.self)
            dst.storeBytes(of: a, as: W.self)
            dst.storeBytes(of: b, toByteOffset: last, as: W.self)
        }
        if count > 64 || count < 4 {
            dst.copyMemory(from: src, byteCount: count)
        } else if count >= 32 {
            two(SIMD32<UInt8>.self)
        } else if count >= 16 {
            two(SIMD16<UInt8>.self)
        } else if count >= 8 {
            two(UInt64.self)
        } else {
            two(UInt32.self)
        }
    }

    /// Row-major strides of a shape.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
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
    static func writeStrides(_ shape: UnsafeBufferPointer<Int>, _ strides: UnsafeMutableBufferPointer<Int>) {
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
    }
}
