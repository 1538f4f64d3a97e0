// fercc-kernel requires: Common/Geometry.swift
// fercc-kernel requires(avx2): Int8/AVX2/Pool+AVX2.swift
// fercc-kernel requires(neon): Int8/ARM64/Pool+NEON.swift

extension Kernels {

    /// int8 max and average pooling over NHWC, as TFLite's reference kernels: the average sums the
    /// raw values of the taps inside the input and divides with rounding half away from zero.
    public static func quantizedPool(
        _ g: Conv2DGeometry, average: Bool, min: Int32, max: Int32,
        _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>
    ) {
        #if arch(x86_64) && FERCC_AVX2
        if !average && g.inC >= 16 {
            maxPoolAVX2(g, min: min, max: max, input, output)
            return
        }
        #endif
        #if arch(arm64)
        if !average && g.inC >= 16 {
            maxPoolNEON(g, min: min, max: max, input, output)
            return
        }
        #endif
        quantizedPoolPortable(g, average: average, min: min, max: max, input, output)
    }

    /// One axis of a pooling window: its first input position, and the range of its taps that lie
    /// inside the input (empty when none do).
    @inline(__always)
    static func poolWindow(_ o: Int, stride: Int, padBegin: Int, kernel: Int, size: Int) -> (
        origin: Int, taps: Range<Int>
    ) {
        let origin = o * stride - padBegin
        let first = Swift.max(0, -origin)
        return (origin, first..<Swift.max(Swift.min(kernel, size - origin), first))
    }

    /// `quantizedPool` without the x86 vector path (public so that tests on x86 check it too).
    public static func quantizedPoolPortable(
        _ g: Conv2DGeometry, average: Bool, min: Int32, max: Int32,
        _ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Int8>
    ) {
        let c = g.inC
        // Taps outside, channels inside: each inner loop runs over contiguous channels and vectorizes.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Swift.max(c, 1)) { acc in
            for n in 0..<g.batch {
                for oh in 0..<g.outH {
                    let (y0, ys) = poolWindow(oh, stride: g.strideH, padBegin: g.padTop, kernel: g.kernelH, size: g.inH)
                    let yStart = ys.lowerBound, yEnd = ys.upperBound
                    for ow in 0..<g.outW {
                        let (x0, xs) = poolWindow(
                            ow, stride: g.strideW, padBegin: g.padLeft, kernel: g.kernelW, size: g.inW)
                        let xStart = xs.lowerBound, xEnd = xs.upperBound
                        let out = output + ((n * g.outH + oh) * g.outW + ow) * c
                        let count = Int32((yEnd - yStart) * (xEnd - xStart))
                        var first = 0
                        if !average {
                            // Max pooling 16 channels at a time on int8 vectors (then the clamp),
                            // from the window's first tap, rows apart by `rowStride`.
                            let lo = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.max(min, -128)))
                            let hi = SIMD16<Int8>(repeating: Int8(truncatingIfNeeded: Swift.min(max, 127)))
                            let corner = input + ((n * g.inH + y0 + yStart) * g.inW + x0 + xStart) * c
                            let rowStride = g.inW * c, rows = yEnd - yStart, columns = xEnd - xStart
                            // With 16 or more channels a partial last block is the last 16 channels,
                            // overlapping the block before (the same maxima written twice).
                            var blocks = c / 16
                            if c > 16 && c % 16 != 0 { blocks += 1 }
                            for block in 0..<blocks {
                                first = Swift.min(block * 16, c - 16)
                                var m = SIMD16<Int8>(repeating: -128)
                                var row = corner + first
                                for _ in 0..<rows {
                                    var tap = row
                                    for _ in 0..<columns {
                                        m = pointwiseMax(m, UnsafeRawPointer(tap).loadUnaligned(as: SIMD16<Int8>.self))
                                        tap += c
                                    }
                                    row += rowStride
                                }
                                m = pointwiseMin(pointwiseMax(m, lo), hi)
                                UnsafeMutableRawPointer(out + first).storeBytes(of: m, as: SIMD16<Int8>.self)
                            }
                            if c >= 16 { continue }
                            first = 0
                        }
                        for ch in first..<c { acc[ch] = average ? 0 : -128 }
                        for y in yStart..<yEnd {
                            for x in xStart..<xEnd {
                                let row = input + ((n * g.inH + y0 + y) * g.inW + x0 + x) * c
                                if average {
                                    for ch in 0..<c { acc[ch] &+= Int32(row[ch]) }
                                } else {
                                    for ch in first..<c { acc[ch] = Swift.max(acc[ch], Int32(row[ch])) }
                                }
                            }
                        }
                        for ch in first..<c {
                            var v = acc[ch]
                            if average, count > 0 {
                                v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count
                            }
                            out[ch] = Int8(truncatingIfNeeded: Swift.min(Swift.max(v, min), max))
                        }
                    }
                }
            }
        }
    }

    /// int8 max/average pooling with the same quantization in and out (see `quantizedPool`).
    public struct QuantizedPoolKernel: Sendable {
        public let geometry: Conv2DGeometry
        let average: Bool
        let min: Int32, max: Int32

        public init(geometry: Conv2DGeometry, average: Bool, min: Int32, max: Int32) {
            self.geometry = geometry
            self.average = average
            self.min = min
            self.max = max
        }

        public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
            quantizedPool(geometry, average: average, min: min, max: max, input, output)
        }
    }
}
