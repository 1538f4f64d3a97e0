extension Kernels {
    /// Reduction over `axes`; the output holds the reduced axes as length 1.
    public enum ReduceOperation: Sendable { case mean, max, sum }

    /// Allocates nothing.
    public static func reduce(
        _ x: UnsafePointer<Float>, _ shape: [Int], axes: [Int], _ operation: ReduceOperation,
        _ y: UnsafeMutablePointer<Float>
    ) {
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
}
