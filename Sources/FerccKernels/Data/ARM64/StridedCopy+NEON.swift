// The strided copy's and the byte interleave's AArch64 paths: a two-group channel shuffle as NEON
// byte zips.
// fercc-kernel requires: Data/StridedCopy.swift

#if arch(arm64)
import _Builtin_intrinsics.arm.neon

extension Kernels {
    /// `interleaveBytes` for `half` >= 16: y[p][2j] = a[p * stride + j], y[p][2j + 1] = b[p * stride + j],
    /// 16 bytes of each per `zip1`/`zip2` pair, a partial last step redoing bytes before it.
    static func interleaveBytesNEON(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, stride: Int, _ y: UnsafeMutablePointer<Int8>,
        pixels: Int, half h: Int
    ) {
        for p in 0..<pixels {
            zipBytesNEON(
                UnsafeRawPointer(a + p &* stride), UnsafeRawPointer(b + p &* stride),
                UnsafeMutableRawPointer(y + p &* 2 &* h), count: h)
        }
    }

    /// d[2i] = a[i], d[2i + 1] = b[i] for i < `count`: 16 bytes of each per `zip1`/`zip2` pair, the
    /// last 16 ending at the run's end (rewriting some bytes with the same values); byte by byte
    /// when `count` < 16.
    @inline(__always)
    static func zipBytesNEON(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int) {
        @inline(__always) func zip16(_ i: Int) {
            let x = (a + i).loadUnaligned(as: SIMD16<Int8>.self)
            let y = (b + i).loadUnaligned(as: SIMD16<Int8>.self)
            (d + 2 &* i).storeBytes(of: vzip1q_s8(x, y), as: SIMD16<Int8>.self)
            (d + (2 &* i &+ 16)).storeBytes(of: vzip2q_s8(x, y), as: SIMD16<Int8>.self)
        }
        var i = 0
        while i &+ 16 <= count {
            zip16(i)
            i &+= 16
        }
        if i < count && count >= 16 {
            zip16(count &- 16)
            i = count
        }
        while i < count {
            (d + 2 &* i).storeBytes(of: (a + i).load(as: Int8.self), as: Int8.self)
            (d + (2 &* i &+ 1)).storeBytes(of: (b + i).load(as: Int8.self), as: Int8.self)
            i &+= 1
        }
    }

    /// `stridedCopyLoops` for a two-group interleave of bytes (int8 ShuffleNetV2's channel shuffle:
    /// [pixels, C/2, 2] from [pixels, 2, C/2]): when the innermost axis reads contiguous bytes and
    /// writes every other byte, and another axis of extent 2 writes the bytes between (its source
    /// `pairStride` apart), each row is two contiguous runs zipped, 32 bytes per `zip1`/`zip2` pair
    /// instead of a load and a store per byte. False (nothing copied) when the loops are not of
    /// that form.
    static func stridedZip2<T>(
        _ src: UnsafePointer<T>, _ ss: UnsafeMutablePointer<Int>, _ dst: UnsafeMutablePointer<T>,
        _ ds: UnsafeMutablePointer<Int>, _ n: UnsafeMutablePointer<Int>, _ rank: Int
    ) -> Bool {
        guard MemoryLayout<T>.stride == 1, rank >= 2, ss[rank - 1] == 1, ds[rank - 1] == 2 else { return false }
        var pair = -1
        for axis in 0..<(rank - 1) where n[axis] == 2 && ds[axis] == 1 { pair = axis }
        guard pair >= 0 else { return false }
        let pairStride = ss[pair], inner = n[rank - 1]
        // The other axes, in order, as an odometer (the pair axis becomes extent 1).
        let extent = n[pair]
        n[pair] = 1
        defer { n[pair] = extent }
        let a0 = UnsafeRawPointer(src), d0 = UnsafeMutableRawPointer(dst)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
            index.initialize(repeating: 0)
            var offS = 0, offD = 0
            while true {
                let a = a0 + offS, b = a0 + (offS &+ pairStride), d = d0 + offD
                zipBytesNEON(a, b, d, count: inner)
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    offS += ss[axis]
                    offD += ds[axis]
                    if index[axis] < n[axis] { break }
                    offS -= ss[axis] * n[axis]
                    offD -= ds[axis] * n[axis]
                    index[axis] = 0
                    axis -= 1
                }
                if axis < 0 { return }
            }
        }
        return true
    }
}
#endif
