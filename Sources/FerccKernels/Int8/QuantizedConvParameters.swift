// fercc-kernel requires: Int8/Requantization.swift Int8/QuantizedPadding.swift
// fercc-kernel requires(avx512): Int8/AVX512/Requantize+AVX512.swift

extension Kernels {
    /// What every int8 convolution variant starts from, computed once from the OHWI weights: the
    /// arithmetic of TFLite's reference ConvPerChannel / DepthwiseConvPerChannel is int32
    /// accumulation of weight * (input - input zero point) over the taps inside the image, plus
    /// bias, requantized per output channel. The vector variants pad the input with its zero
    /// point (padded taps then add nothing, as the reference skips them) and fold
    /// -zero point * sum(weights) into the bias, which leaves the integers unchanged.
    public struct QuantizedConvParameters {
        public let geometry: Conv2DGeometry
        /// OHWI [outC, kh, kw, inC / groups].
        let weights: [Int8]
        let bias: [Int32]
        let inputZeroPoint: Int32
        let requant: Requantization
        /// Per output channel: the sum of its weights, of their magnitudes, and bias - zp * sum.
        let sums: [Int32]
        let absSums: [Int]
        let folded: [Int32]
        var blocks: Int { (geometry.outC + 15) / 16 }

        public init(
            geometry g: Conv2DGeometry, weights: [Int8], bias: [Int32]?, inputZeroPoint: Int32,
            requantization: Requantization
        ) {
            geometry = g
            self.weights = weights
            let b = bias ?? [Int32](repeating: 0, count: g.outC)
            self.bias = b
            self.inputZeroPoint = inputZeroPoint
            requant = requantization
            let perChannel = g.kernelH * g.kernelW * g.inputChannelsPerGroup
            var sums = [Int32](repeating: 0, count: g.outC), absSums = [Int](repeating: 0, count: g.outC)
            for oc in 0..<g.outC {
                for w in weights[(oc * perChannel)..<((oc + 1) * perChannel)] {
                    sums[oc] &+= Int32(w)
                    absSums[oc] += abs(Int(w))
                }
            }
            self.sums = sums
            self.absSums = absSums
            folded = (0..<g.outC).map { b[$0] &- inputZeroPoint &* sums[$0] }
        }

        /// From parameters in memory, as generated code stores them with the weights: OHWI
        /// weights, an optional bias, and per-channel (or one) multipliers and shifts (and float
        /// scales when the scaling is float).
        @inline(never)
        public init(
            geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>?,
            inputZeroPoint: Int32,
            multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int8>, scales: UnsafePointer<Float>? = nil,
            channels: Int, outputZeroPoint: Int32, min: Int32, max: Int32
        ) {
            let taps = g.kernelH * g.kernelW * g.inputChannelsPerGroup
            self.init(
                geometry: g, weights: Array(UnsafeBufferPointer(start: weights, count: g.outC * taps)),
                bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: g.outC)) }, inputZeroPoint: inputZeroPoint,
                requantization: Requantization(
                    multipliers: Array(UnsafeBufferPointer(start: multipliers, count: channels)),
                    shifts: UnsafeBufferPointer(start: shifts, count: channels).map { Int($0) },
                    floatScales: scales.map { Array(UnsafeBufferPointer(start: $0, count: channels)) },
                    outputZeroPoint: outputZeroPoint, min: min, max: max))
        }

        /// The largest |accumulator| of output channel `oc` (|input - zero point| <= 255).
        func accumulatorBound(_ oc: Int) -> Int64 { Int64(abs(Int(bias[oc]))) + 255 * Int64(absSums[oc]) }

        /// Whether every channel may round with one add and a shift (`simpleRounding` of the
        /// AVX-512 requantization): it shifts right by 1 to 30 and no accumulator plus half the
        /// divisor reaches 2^31 (the doubling high multiply never grows a value).
        var simpleRounding: Bool {
            if requant.floatScales != nil { return false }
            let perChannel = requant.multipliers.count > 1
            return (0..<geometry.outC).allSatisfy { oc in
                let shift = requant.shifts[perChannel ? oc : 0]
                return shift <= -1 && shift >= -30 && accumulatorBound(oc) + (Int64(1) << (-shift - 1)) < Int64(1) << 31
            }
        }

        /// The portable kernels' table: per block of 16 output channels, 16 lanes each of `bias`
        /// (by channel; zero past the last), multiplier, left shift and right shift. When the
        /// scaling is float, the multiplier lanes hold the float scales' bits and the shifts are 0.
        func table(bias: [Int32]) -> [Int32] {
            let perChannel = requant.multipliers.count > 1
            var table = [Int32](repeating: 0, count: blocks * 64)
            for lane in 0..<(blocks * 16) {
                let c = perChannel ? min(lane, geometry.outC - 1) : 0
                let shift = requant.shifts[c]
                let base = (lane / 16) * 64 + lane % 16
                table[base] = lane < geometry.outC ? bias[lane] : 0
                if let f = requant.floatScales {
                    table[base + 16] = Int32(bitPattern: f[c].bitPattern)
                    continue
                }
                table[base + 16] = requant.multipliers[c]
                table[base + 32] = Int32(max(shift, 0))
                table[base + 48] = Int32(max(-shift, 0))
            }
            return table
        }
    }

    /// How `denseConvAVX2` walks a layer's weights: `runs` runs of input per output pixel (one per
    /// kernel row when the row's taps are adjacent pixels, else one per tap) of `pairs` int16 pairs
    /// each, from an int16 copy with `stride` elements per pixel: the channels as they are for row
    /// runs (an odd run's last pair takes the element after it, under a zero weight: a 3-channel
    /// stem's row of 9 values is 5 pairs, not 6 of channels padded to 4), else rounded up to pairs.
    struct DenseRunsAVX2 {
        let runs: Int, pairs: Int, stride: Int
        /// One run per kernel row (else one per tap).
        let rowRuns: Bool
        init(_ g: Conv2DGeometry) {
            rowRuns = g.dilationW == 1
            if rowRuns {
                (runs, pairs, stride) = (g.kernelH, (g.kernelW * g.inC + 1) / 2, g.inC)
            } else {
                (runs, pairs, stride) = (g.kernelH * g.kernelW, (g.inC + 1) / 2, (g.inC + 1) / 2 * 2)
            }
        }
        /// Elements of the int16 copy of `pixels` pixels, with the one element a last odd run reads past it.
        func copyCount(pixels: Int) -> Int { pixels * stride + 2 }
    }
}

#if arch(x86_64) && FERCC_AVX512
extension Kernels {
    /// A convolution's rounding on 16 lanes, from its requantization, output channels,
    /// accumulator bounds and `simpleRounding`.
    static func roundingAVX512(_ p: QuantizedConvParameters) -> AVX512Rounding {
        AVX512Rounding(
            p.requant, channels: p.geometry.outC, simple: p.simpleRounding, accumulatorBound: p.accumulatorBound)
    }
}
#endif
