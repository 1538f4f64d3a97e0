// fercc-kernel requires: Common/SIMD.swift

extension Kernels {
    /// out[M,N] = a[M,K] * b[K,N] (+ bias broadcast by the caller's choice), row-major, vectorized over N
    /// with 4 rows x 16 columns held in registers.
    public static func matmul(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        m: Int, k: Int, n: Int
    ) {
        let lanes = FloatVector.lanes
        var col = 0
        while col < n {
            let valid = min(lanes, n - col)
            var row = 0
            while row + 4 <= m {
                var c0 = FloatVector.splat(0), c1 = c0, c2 = c0, c3 = c0
                let a0 = a + row * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
                for i in 0..<k {
                    let bv = FloatVector.load(b + i * n + col, count: valid)
                    c0 = c0.adding(.splat(a0[i]), times: bv)
                    c1 = c1.adding(.splat(a1[i]), times: bv)
                    c2 = c2.adding(.splat(a2[i]), times: bv)
                    c3 = c3.adding(.splat(a3[i]), times: bv)
                }
                let o = out + row * n + col
                c0.store(o, count: valid)
                c1.store(o + n, count: valid)
                c2.store(o + 2 * n, count: valid)
                c3.store(o + 3 * n, count: valid)
                row += 4
            }
            while row < m {
                var c0 = FloatVector.splat(0)
                let a0 = a + row * k
                for i in 0..<k {
                    let bv = FloatVector.load(b + i * n + col, count: valid)
                    c0 = c0.adding(.splat(a0[i]), times: bv)
                }
                c0.store(out + row * n + col, count: valid)
                row += 1
            }
            col += lanes
        }
    }
}
