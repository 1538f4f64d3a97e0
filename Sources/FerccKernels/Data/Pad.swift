// fercc-kernel requires: Data/StridedCopy.swift

extension Kernels {
    /// Constant padding; `pads` holds the begins of every axis, then the ends. Negative pads crop.
    /// Allocates nothing.
    public static func pad<T>(
        _ x: UnsafePointer<T>, _ shape: [Int], pads: [Int], value: T, _ y: UnsafeMutablePointer<T>
    ) {
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
                stridedCopy(
                    x + srcOff, UnsafeBufferPointer(si), y + dstOff, UnsafeBufferPointer(so),
                    UnsafeBufferPointer(region))
            }
        }
    }
}
