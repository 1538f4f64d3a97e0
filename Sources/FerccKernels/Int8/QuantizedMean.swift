// fercc-kernel requires: Int8/QuantizedMath.swift Data/StridedCopy.swift

extension Kernels {
    /// int8 mean of `count` elements from their raw int32 sum, as LiteRT's reference
    /// QuantizedMeanOrSum: 1/count is folded into the fixed-point multiplier of
    /// input scale / output scale (shift = floor(log2 count), capped at 32 and at 31 + the shift).
    public struct QuantizedMeanKernel: Sendable {
        let multiplier: Int32
        let shift: Int
        let correction: Int32
        let outputZeroPoint: Int32

        public init(inputScale: Float, inputZeroPoint: Int32, outputScale: Float, outputZeroPoint: Int32, count: Int) {
            let q = QuantizedMath.quantizeMultiplier(Double(inputScale) / Double(outputScale))
            var s = 63 - UInt64(count).leadingZeroBitCount
            s = min(s, 32)
            s = min(s, 31 + q.shift)
            multiplier = Int32(truncatingIfNeeded: (Int64(q.multiplier) << Int64(s)) / Int64(count))
            shift = q.shift - s
            correction = inputZeroPoint &* Int32(truncatingIfNeeded: count)
            self.outputZeroPoint = outputZeroPoint
        }

        @inline(__always)
        public func apply(sum: Int32) -> Int8 {
            let v = QuantizedMath.multiplyByQuantizedMultiplier(sum &- correction, multiplier, shift) &+ outputZeroPoint
            return Int8(truncatingIfNeeded: Swift.min(Swift.max(v, -128), 127))
        }

        /// Mean over `axes` of an int8 tensor (the reduced axes kept as size 1 in the output order).
        public func run(_ x: UnsafePointer<Int8>, _ shape: [Int], axes: [Int], _ y: UnsafeMutablePointer<Int8>) {
            let rank = shape.count
            var outShape = shape
            for a in axes { outShape[a] = 1 }
            var outStrides = contiguousStrides(outShape)
            for a in axes { outStrides[a] = 0 }
            let outCount = outShape.reduce(1, *), count = shape.reduce(1, *)
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: Swift.max(outCount, 1)) { sums in
                sums.initialize(repeating: 0)
                // The common case: a global average over the middle axes of NHWC.
                if rank == 4, axes.sorted() == [1, 2] {
                    let c = shape[3], hw = shape[1] * shape[2]
                    // Pointers stepped, not `n * c + ch` per element (overflow-checked index
                    // arithmetic kept the loop scalar: 10 instructions per byte on AArch64).
                    var row = x
                    for n in 0..<shape[0] {
                        let s = sums.baseAddress! + n &* c
                        for _ in 0..<hw {
                            for ch in 0..<c { s[ch] &+= Int32(row[ch]) }
                            row += c
                        }
                    }
                } else {
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(rank, 1)) { idx in
                        idx.initialize(repeating: 0)
                        for i in 0..<count {
                            var o = 0
                            for d in 0..<rank { o += idx[d] * outStrides[d] }
                            sums[o] &+= Int32(x[i])
                            var d = rank - 1
                            while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
                        }
                    }
                }
                for o in 0..<outCount { y[o] = apply(sum: sums[o]) }
            }
        }
    }
}
