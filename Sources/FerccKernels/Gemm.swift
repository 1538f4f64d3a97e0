/// out[M,N] = a[M,K] * b[K,N] (+ bias broadcast by the caller's choice), row-major, vectorized over N
/// with 4 rows x 16 columns held in registers.
public func matmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                   m: Int, k: Int, n: Int) {
    let lanes = FloatVector.scalarCount
    var col = 0
    while col < n {
        let valid = min(lanes, n - col)
        var row = 0
        while row + 4 <= m {
            var c0 = FloatVector(), c1 = FloatVector(), c2 = FloatVector(), c3 = FloatVector()
            let a0 = a + row * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
            for i in 0..<k {
                let bv = valid == lanes ? loadVector(b + i * n + col) : loadLanes(b + i * n + col, valid)
                c0 = multiplyAdd(c0, FloatVector(repeating: a0[i]), bv)
                c1 = multiplyAdd(c1, FloatVector(repeating: a1[i]), bv)
                c2 = multiplyAdd(c2, FloatVector(repeating: a2[i]), bv)
                c3 = multiplyAdd(c3, FloatVector(repeating: a3[i]), bv)
            }
            let o = out + row * n + col
            if valid == lanes {
                storeVector(c0, o); storeVector(c1, o + n); storeVector(c2, o + 2 * n); storeVector(c3, o + 3 * n)
            } else {
                storeLanes(c0, o, valid); storeLanes(c1, o + n, valid); storeLanes(c2, o + 2 * n, valid); storeLanes(c3, o + 3 * n, valid)
            }
            row += 4
        }
        while row < m {
            var c0 = FloatVector()
            let a0 = a + row * k
            for i in 0..<k {
                let bv = valid == lanes ? loadVector(b + i * n + col) : loadLanes(b + i * n + col, valid)
                c0 = multiplyAdd(c0, FloatVector(repeating: a0[i]), bv)
            }
            if valid == lanes { storeVector(c0, out + row * n + col) } else { storeLanes(c0, out + row * n + col, valid) }
            row += 1
        }
        col += lanes
    }
}
