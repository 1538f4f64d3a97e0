// fercc-kernel requires: Data/StridedCopy.swift
// fercc-kernel requires(avx2): Int8/AVX2/Shuffle+AVX2.swift
// fercc-kernel requires(neon): Data/ARM64/StridedCopy+NEON.swift

extension Kernels {
    /// y[p][2j] = a[p * stride + j], y[p][2j + 1] = b[p * stride + j] for j < half (>= 4): a two-group
    /// channel shuffle of two halves (of one tensor, or ShuffleNetV2's two branches). Four channels
    /// of each half per step, a partial last step redoing the four before it.
    public static func interleave(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, stride: Int, _ y: UnsafeMutablePointer<Float>,
        pixels: Int, half h: Int
    ) {
        for p in 0..<pixels {
            let a = a + p * stride, b = b + p * stride, out = y + p * 2 * h
            var j = 0
            while j < h {
                let at = min(j, h - 4)
                let va = UnsafeRawPointer(a + at).loadUnaligned(as: SIMD4<Float>.self),
                    vb = UnsafeRawPointer(b + at).loadUnaligned(as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(out + 2 * at).storeBytes(
                    of: SIMD8(va[0], vb[0], va[1], vb[1], va[2], vb[2], va[3], vb[3]), as: SIMD8<Float>.self)
                j += 4
            }
        }
    }

    /// The same on bytes (int8 tensors): y[p][2j] = a[p * stride + j], y[p][2j + 1] = b[p * stride + j]
    /// for j < half (>= 1). Vector byte unpacks (x86) or zips (arm64) of 16 channels of each half
    /// when half >= 16, a partial last step redoing bytes before it; one byte at a time otherwise.
    public static func interleaveBytes(
        _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, stride: Int, _ y: UnsafeMutablePointer<Int8>,
        pixels: Int, half h: Int
    ) {
        #if arch(x86_64) && FERCC_AVX2
        if h >= 16 {
            interleaveHalvesAVX2(
                UnsafeRawPointer(a), UnsafeRawPointer(b), stride: stride, UnsafeMutableRawPointer(y), pixels: pixels,
                half: h)
            return
        }
        #elseif arch(arm64)
        if h >= 16 {
            interleaveBytesNEON(a, b, stride: stride, y, pixels: pixels, half: h)
            return
        }
        #endif
        for p in 0..<pixels {
            let a = a + p * stride, b = b + p * stride, out = y + p * 2 * h
            for j in 0..<h {
                out[2 * j] = a[j]
                out[2 * j + 1] = b[j]
            }
        }
    }

    /// `y` = `x` transposed by `perm` (output axis i is input axis perm[i]); allocates nothing.
    public static func transpose<T>(_ x: UnsafePointer<T>, _ shape: [Int], perm: [Int], _ y: UnsafeMutablePointer<T>) {
        let rank = shape.count
        #if arch(x86_64) && FERCC_AVX2
        // A channel shuffle of two groups on bytes (int8 ShuffleNet): vector interleave.
        if MemoryLayout<T>.stride == 1, rank == 4, perm == [0, 2, 1, 3], shape[1] == 2, shape[3] == 1, shape[2] >= 16 {
            let h = shape[2]
            interleaveHalvesAVX2(
                UnsafeRawPointer(x), UnsafeRawPointer(x) + h, stride: 2 * h, UnsafeMutableRawPointer(y),
                pixels: shape[0], half: h)
            return
        }
        #endif
        // The same on floats.
        if T.self == Float.self, rank == 4, perm == [0, 2, 1, 3], shape[1] == 2, shape[3] == 1, shape[2] >= 4 {
            let h = shape[2]
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            interleave(
                xf, xf + h, stride: 2 * h, UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self),
                pixels: shape[0], half: h)
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
        shape.withUnsafeBufferPointer { sh in
            perm.withUnsafeBufferPointer { pm in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * max(rank, 1)) { tmp in
                    let inStrides = UnsafeMutableBufferPointer(rebasing: tmp[0..<rank])
                    let outShape = UnsafeMutableBufferPointer(rebasing: tmp[rank..<(2 * rank)])
                    let outStrides = UnsafeMutableBufferPointer(rebasing: tmp[(2 * rank)..<(3 * rank)])
                    let readStrides = UnsafeMutableBufferPointer(rebasing: tmp[(3 * rank)..<(4 * rank)])
                    writeStrides(sh, inStrides)
                    for i in 0..<rank { outShape[i] = sh[pm[i]]; readStrides[i] = inStrides[pm[i]] }
                    writeStrides(UnsafeBufferPointer(outShape), outStrides)
                    stridedCopy(
                        x, UnsafeBufferPointer(readStrides), y, UnsafeBufferPointer(outStrides),
                        UnsafeBufferPointer(outShape))
                }
            }
        }
    }
}
