extension Kernels {
    /// Strides of `shape` (right-aligned to `rank` axes) for reading it broadcast to an output of that rank.
    public static func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
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
}
