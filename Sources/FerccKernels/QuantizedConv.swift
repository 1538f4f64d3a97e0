/// The vector type of the int8 kernels' accumulators: 16 int32 lanes, like `FloatVector`.
public typealias Int32Vector = SIMD16<Int32>

// Lane conversions written as loops: the standard library's SIMD init(truncatingIfNeeded:) is a
// generic function that stays an unspecialized call per vector (measured: 1 GMAC/s); these
// loops compile to single sign-extend / shuffle instructions.
@inline(__always)
func widen(_ v: SIMD16<Int8>) -> Int32Vector {
    var r = Int32Vector()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func widen(_ v: SIMD16<Int16>) -> Int32Vector {
    var r = Int32Vector()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func widen(_ v: SIMD8<Int32>) -> SIMD8<Int64> {
    var r = SIMD8<Int64>()
    for i in 0..<8 { r[i] = Int64(v[i]) }
    return r
}

@inline(__always)
func narrow(_ v: SIMD8<Int64>) -> SIMD8<Int32> {
    var r = SIMD8<Int32>()
    for i in 0..<8 { r[i] = Int32(truncatingIfNeeded: v[i]) }
    return r
}

/// TFLite's MultiplyByQuantizedMultiplier on 16 lanes, each with its own multiplier and shift:
/// the same bits as `QuantizedMath.multiplyByQuantizedMultiplier` lane by lane (multipliers are
/// non-negative, so the one saturating case of the doubling high multiply cannot occur).
@inline(__always)
func multiplyByQuantizedMultiplier(_ x: Int32Vector, _ multiplier: Int32Vector,
                                   leftShift: Int32Vector, rightShift: Int32Vector) -> Int32Vector {
    let a = x &<< leftShift
    @inline(__always)
    func doublingHighMul(_ a: SIMD8<Int32>, _ b: SIMD8<Int32>) -> SIMD8<Int32> {
        let ab = widen(a) &* widen(b)
        // nudge = ab >= 0 ? 2^30 : 1 - 2^30, from the sign bits (SIMD masks would go through memory).
        let nudge = SIMD8<Int64>(repeating: 1 << 30) &+ ((ab &>> 63) & SIMD8<Int64>(repeating: 1 - (1 << 31)))
        let s = ab &+ nudge
        // Division by 2^31 truncating toward zero, as the scalar code's Int64 division.
        return narrow((s &+ ((s &>> 63) & ((1 << 31) - 1))) &>> 31)
    }
    let h = Int32Vector(lowHalf: doublingHighMul(a.lowHalf, multiplier.lowHalf),
                        highHalf: doublingHighMul(a.highHalf, multiplier.highHalf))
    let mask = (Int32Vector(repeating: 1) &<< rightShift) &- 1
    let remainder = h & mask
    let threshold = (mask &>> 1) &- (h &>> 31)  // + 1 when h < 0
    // + 1 when remainder > threshold (both in [0, mask], so the difference cannot overflow).
    return (h &>> rightShift) &- ((threshold &- remainder) &>> 31)
}

/// Fills what a padded copy of `g`'s input (`channelStride` elements per pixel) does not copy:
/// the border only when every element of a pixel is copied (filling the whole buffer first
/// doubled the bytes written for large layers), else everything.
func fillPadding<T>(_ y: UnsafeMutablePointer<T>, _ g: Conv2DGeometry, channelStride cs: Int, fill: T) {
    guard cs == g.inC else {
        y.initialize(repeating: fill, count: g.batch * g.paddedH * g.paddedW * cs)
        return
    }
    fillBorder(y, batch: g.batch, h: g.inH, w: g.inW, c: cs, top: g.padTop, left: g.padLeft, bottom: g.padBottom, right: g.padRight, fill: fill)
}

/// Copies an int8 NHWC tensor into the middle of a larger one filled with `fill`, with
/// `channelStride` >= channels bytes per pixel (the extra lanes hold `fill` too).
func padInt8(_ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride: Int, fill: Int8, _ y: UnsafeMutablePointer<Int8>) {
    let ph = g.paddedH, pw = g.paddedW, c = g.inC
    fillPadding(y, g, channelStride: channelStride, fill: fill)
    for n in 0..<g.batch {
        for h in 0..<g.inH {
            let src = x + (n * g.inH + h) * g.inW * c
            let dst = y + ((n * ph + h + g.padTop) * pw + g.padLeft) * channelStride
            if channelStride == c {
                dst.update(from: src, count: g.inW * c)
            } else {
                for w in 0..<g.inW { (dst + w * channelStride).update(from: src + w * c, count: c) }
            }
        }
    }
}

/// int8 convolution over NHWC (regular, grouped and depthwise with any multiplier) with the
/// arithmetic of TFLite's reference ConvPerChannel / DepthwiseConvPerChannel: int32
/// accumulation of weight * (input - input zero point) over the taps inside the image, plus
/// bias, requantized per output channel. Regular and depthwise convolutions run on 16-lane int32
/// vectors over output channels: the input is padded with its zero point (so padded taps add
/// nothing, exactly as the reference skips them) and -zero point * sum(weights) is folded into
/// the bias, which leaves the integer result unchanged. Other groupings use the reference loop.
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

public struct QuantizedConv2DKernel: Sendable {
    enum Path: Sendable { case dense, depthwise, reference }
    public let geometry: Conv2DGeometry
    let path: Path
    let weights: [Int8]  // OHWI, for the reference path
    let bias: [Int32]
    let inputZeroPoint: Int32
    let requant: Requantization
    /// dense: [output block][kh][kw][ci][16]; depthwise: [kh][kw][channels padded to 16].
    let packed: [Int16]
    let blocks: Int
    /// Per block of 16 output channels: 16 lanes each of bias - zero point * sum(weights), the
    /// requantization multiplier, its left shift and its right shift.
    let table: [Int32]
    /// Bytes per pixel of the padded input copy (depthwise: channels padded to 16).
    let channelStride: Int
    let needsPaddedCopy: Bool
    /// When no partial sum can reach 2^24 (Σ|w| · 255 below it for every output channel), every
    /// float32 accumulation of the integer products is exact: a regular convolution then runs in
    /// the faster fp32 kernel on (x - zero point) and is requantized from the same int32 sums.
    /// (Depthwise layers measured slower that way: the float copy of the input costs more than
    /// their few MACs save.)
    let exactDense: Conv2DKernel?
    /// `table` with the unfolded bias, for the exact float path.
    let plainTable: [Int32]
    /// AVX2 builds: weights packed for `denseConvAVX2` / `depthwiseConvAVX2` (QuantizedAVX2.swift)
    /// and, for depthwise, the table with lanes in the order its accumulators hold the channels.
    let avx2Packed: [Int16]
    let avx2Table: [Int32]
    /// AVX-512 VNNI builds: a regular convolution's weights packed for `denseConvVNNI`
    /// (QuantizedAVX512.swift; avx2Table then holds its biases, avx2Packed nothing).
    let vnniPacked: [Int8]
    /// Whether the AVX-512 requantization may round with one add and a shift: every channel
    /// shifts right by at least 1 (no left shift), and no accumulator, whose magnitude is at most
    /// |bias| + 255 * sum(|weights|) (|input - zero point| <= 255), plus 2^(shift - 1) can reach
    /// 2^31 (the doubling high multiply never grows a value).
    let simpleRounding: Bool
    /// Whether the AVX2 kernels requantize with the zero point folded into the rounding
    /// (`foldedRoundingAVX2`, from the same accumulator bound).
    let foldedRounding: Bool

    @inline(never)  // generated code builds dozens of these in one initializer
    public init(geometry g: Conv2DGeometry, weights: [Int8], bias: [Int32]?, inputZeroPoint: Int32, requantization: Requantization) {
        geometry = g
        self.weights = weights
        self.bias = bias ?? [Int32](repeating: 0, count: g.outC)
        self.inputZeroPoint = inputZeroPoint
        requant = requantization
        let taps = g.kernelH * g.kernelW
        if g.groups == 1 {
            path = .dense
        } else if g.isDepthwise {
            path = .depthwise
        } else {
            path = .reference
        }
        blocks = (g.outC + 15) / 16
        let lanes = blocks * 16
        var packed: [Int16] = []
        var folded = [Int32](repeating: 0, count: lanes)
        // Per output channel: Σw (folded into the bias) and Σ|w| (bounds on the accumulators).
        var sums = [Int32](repeating: 0, count: g.outC), absSums = [Int](repeating: 0, count: g.outC)
        switch path {
        case .dense:
            let ci = g.inC
            // (AVX2 builds run their own packing, avx2Packed, and keep no portable copy.)
            packed = quantizedKernelsUseAVX2 ? [] : [Int16](repeating: 0, count: blocks * taps * ci * 16)
            for oc in 0..<g.outC {
                var sum: Int32 = 0, absSum = 0
                for t in 0..<taps {
                    for c in 0..<ci {
                        let w = weights[(oc * taps + t) * ci + c]
                        if !packed.isEmpty { packed[(((oc / 16) * taps + t) * ci + c) * 16 + oc % 16] = Int16(w) }
                        sum += Int32(w)
                        absSum += abs(Int(w))
                    }
                }
                sums[oc] = sum
                absSums[oc] = absSum
                folded[oc] = self.bias[oc] &- inputZeroPoint &* sum
            }
            channelStride = g.inC
            needsPaddedCopy = g.hasPadding
        case .depthwise:
            packed = quantizedKernelsUseAVX2 ? [] : [Int16](repeating: 0, count: taps * lanes)
            for c in 0..<g.outC {
                var sum: Int32 = 0, absSum = 0
                for t in 0..<taps {
                    let w = weights[c * taps + t]
                    if !packed.isEmpty { packed[t * lanes + c] = Int16(w) }
                    sum += Int32(w)
                    absSum += abs(Int(w))
                }
                sums[c] = sum
                absSums[c] = absSum
                folded[c] = self.bias[c] &- inputZeroPoint &* sum
            }
            // (AVX-512 builds read 32 channels at a time.)
            channelStride = Self.wideDepthwise(g) ? (g.outC + 31) / 32 * 32 : lanes
            needsPaddedCopy = g.hasPadding || g.inC != channelStride
        case .reference:
            channelStride = g.inC
            needsPaddedCopy = false
        }
        self.packed = packed
        let perChannel = requantization.multipliers.count > 1
        let allBias = self.bias
        // The largest |accumulator| of each output channel (|input - zero point| <= 255).
        let accumulatorBound = { (oc: Int) in Int64(abs(Int(allBias[oc]))) + 255 * Int64(absSums[oc]) }
        simpleRounding = path != .reference && (0..<g.outC).allSatisfy { oc in
            let shift = requantization.shifts[perChannel ? oc : 0]
            return shift <= -1 && shift >= -30 && accumulatorBound(oc) + (Int64(1) << (-shift - 1)) < Int64(1) << 31
        }
        #if arch(x86_64) && FERCC_AVX2
        foldedRounding = path != .reference && foldedRoundingAVX2(requantization, channels: g.outC, accumulatorBound: accumulatorBound)
        #else
        foldedRounding = false
        #endif
        var table = [Int32](repeating: 0, count: blocks * 64)
        for lane in 0..<lanes {
            let c = perChannel ? min(lane, g.outC - 1) : 0
            let shift = requantization.shifts[c]
            let base = (lane / 16) * 64 + lane % 16
            table[base] = folded[lane]
            table[base + 16] = requantization.multipliers[c]
            table[base + 32] = Int32(max(shift, 0))
            table[base + 48] = Int32(max(-shift, 0))
        }
        self.table = table
        var plain = table
        for lane in 0..<lanes { plain[(lane / 16) * 64 + lane % 16] = lane < g.outC ? self.bias[lane] : 0 }
        plainTable = plain
        #if arch(x86_64) && FERCC_AVX2
        (avx2Packed, avx2Table, vnniPacked) = Self.packAVX2(path, g, weights, folded, sums: sums, requantization)
        let useExact = false  // the AVX2 integer kernels are faster than the float detour
        #else
        avx2Packed = []
        avx2Table = []
        vnniPacked = []
        let useExact = true
        #endif
        // Largest possible |partial sum| of (x - zp) * w is Σ|w| · 255 (|x - zp| <= 255): below 2^24.
        if useExact && path == .dense && (absSums.max() ?? 0) <= ((1 << 24) - 1) / 255 {
            exactDense = weights.map { Float($0) }.withUnsafeBufferPointer { Conv2DKernel(geometry: g, weights: $0, bias: nil) }
        } else {
            exactDense = nil
        }
    }

    #if arch(x86_64) && FERCC_AVX2
    static func packAVX2(_ path: Path, _ g: Conv2DGeometry, _ weights: [Int8], _ folded: [Int32], sums: [Int32],
                         _ r: Requantization) -> ([Int16], [Int32], [Int8]) {
        let taps = g.kernelH * g.kernelW
        let blocks = (g.outC + 15) / 16
        switch path {
        case .dense:
            #if FERCC_AVX512
            return ([], AVX2Table.make(blocks: blocks, channelOfLane: { $0 < g.outC ? $0 : nil }, bias: (0..<g.outC).map { folded[$0] &- 128 &* sums[$0] }, r),
                    packDenseVNNI(g, weights))
            #else
            // [block][run][pair][16 outputs][2 elements], zero past a run's end or the last output.
            let layout = DenseRunsAVX2(g)
            var packed = [Int16](repeating: 0, count: blocks * layout.runs * layout.pairs * 32)
            for oc in 0..<g.outC {
                for t in 0..<taps {
                    for ci in 0..<g.inC {
                        // Row runs: run kh, element kw * inC + ci; else run t, element ci.
                        let (run, e) = layout.rowRuns ? (t / g.kernelW, (t % g.kernelW) * g.inC + ci) : (t, ci)
                        packed[(((oc / 16) * layout.runs + run) * layout.pairs + e / 2) * 32 + (oc % 16) * 2 + e % 2] = Int16(weights[(oc * taps + t) * g.inC + ci])
                    }
                }
            }
            return (packed, AVX2Table.make(blocks: blocks, channelOfLane: { $0 < g.outC ? $0 : nil }, bias: folded, r), [])
            #endif
        case .depthwise:
            #if FERCC_AVX512
            if wideDepthwise(g) {
                let (packed, table) = packDepthwiseAVX512(g, weights, folded: folded, r)
                return (packed, table, [])
            }
            #endif
            // [block][tap pair][16 lanes][2 taps]; lane i holds channel interleavedChannel(i).
            let tapPairs = (taps + 1) / 2
            var packed = [Int16](repeating: 0, count: blocks * tapPairs * 32)
            for b in 0..<blocks {
                for lane in 0..<16 {
                    let c = b * 16 + Self.interleavedChannel(lane)
                    guard c < g.outC else { continue }
                    for t in 0..<taps {
                        packed[(b * tapPairs + t / 2) * 32 + lane * 2 + t % 2] = Int16(weights[c * taps + t])
                    }
                }
            }
            let table = AVX2Table.make(blocks: blocks, channelOfLane: { lane in
                let c = (lane / 16) * 16 + Self.interleavedChannel(lane % 16)
                return c < g.outC ? c : nil
            }, bias: folded, r)
            return (packed, table, [])
        case .reference:
            return ([], [], [])
        }
    }

    /// The channel (within its block of 16) that lane `i` of the AVX2 depthwise accumulators holds:
    /// 0-3, 8-11, then 4-7, 12-15 (the 16-bit interleave works within 128-bit halves).
    static func interleavedChannel(_ i: Int) -> Int {
        let half = i / 8, within = i % 8
        return (within / 4) * 8 + half * 4 + within % 4
    }

    var avx2ScratchBytes: Int {
        let g = geometry
        switch path {
        case .dense:
            if quantizedKernelsUseVNNI { return g.batch * g.paddedH * g.paddedW * ((g.inC + 3) / 4 * 4) }
            return DenseRunsAVX2(g).copyCount(pixels: g.batch * g.paddedH * g.paddedW) * 2
        case .depthwise: return needsPaddedCopy ? g.batch * g.paddedH * g.paddedW * channelStride : 0
        case .reference: return 0
        }
    }

    func runAVX2(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
        let g = geometry
        avx2Packed.withUnsafeBufferPointer { p in
            avx2Table.withUnsafeBufferPointer { t in
                switch path {
                case .dense:
                    #if FERCC_AVX512
                    // An unsigned copy (x + 128), zero-point padded, channels rounded up to quads.
                    let c4 = (g.inC + 3) / 4 * 4
                    let x = scratch!.bindMemory(to: UInt8.self, capacity: avx2ScratchBytes)
                    flipPaddedVNNI(input, g, channelStride: c4, fill: UInt8(truncatingIfNeeded: inputZeroPoint) ^ 0x80, x)
                    vnniPacked.withUnsafeBufferPointer { w in
                        denseConvVNNI(x, paddedH: g.paddedH, paddedW: g.paddedW, channels4: c4, g, weights: w.baseAddress!, blocks: blocks,
                                      table: t.baseAddress!, requant: requant, simpleRounding: simpleRounding, output: output)
                    }
                    #else
                    // An int16 copy, zero-point padded (`DenseRunsAVX2`).
                    let x = scratch!.bindMemory(to: Int16.self, capacity: avx2ScratchBytes / 2)
                    widenPaddedAVX2(input, g, channelStride: DenseRunsAVX2(g).stride, fill: Int16(inputZeroPoint), x)
                    denseConvAVX2(x, paddedH: g.paddedH, paddedW: g.paddedW, g, weights: p.baseAddress!, blocks: blocks,
                                  table: t.baseAddress!, requant: requant, foldedRounding: foldedRounding, output: output)
                    #endif
                case .depthwise:
                    let (x, ph, pw) = paddedInput(input, scratch)
                    #if FERCC_AVX512
                    if Self.wideDepthwise(g) {
                        depthwiseConvAVX512(x, paddedH: ph, paddedW: pw, channelStride: channelStride, g, weights: p.baseAddress!,
                                            table: t.baseAddress!, requant: requant, simpleRounding: simpleRounding, output: output)
                        break
                    }
                    #endif
                    depthwiseConvAVX2(x, paddedH: ph, paddedW: pw, channelStride: channelStride, g, weights: p.baseAddress!, blocks: blocks,
                                      table: t.baseAddress!, requant: requant, foldedRounding: foldedRounding, output: output)
                case .reference:
                    runReference(input: input, output: output)
                }
            }
        }
    }
    #endif

    /// Whether a depthwise layer takes the AVX-512 kernel (32 channels per step): in VNNI builds,
    /// above 16 channels; 8- and 16-channel layers keep the 16-channel AVX2 kernel, which wastes
    /// no lanes on them (mini-Xception's 8-channel layer: 3x less work).
    static func wideDepthwise(_ g: Conv2DGeometry) -> Bool { quantizedKernelsUseVNNI && g.outC > 16 }

    static func rounded16(_ n: Int) -> Int { (n + 15) / 16 * 16 }
    var inputCount: Int { geometry.batch * geometry.inH * geometry.inW * geometry.inC }
    var outputCount: Int { geometry.batch * geometry.outH * geometry.outW * geometry.outC }
    var exactScratchFloats: Int? {
        if let k = exactDense { return Self.rounded16(inputCount) + Self.rounded16(outputCount) + 16 + k.scratchCount }
        return nil
    }

    /// The exact float path: x - zp to float, the fp32 kernel, then the integer requantization.
    func runExact(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        let total = exactScratchFloats!
        let f = scratch.bindMemory(to: Float.self, capacity: total)
        let zp = inputZeroPoint
        for i in 0..<inputCount { f[i] = Float(Int32(input[i]) &- zp) }
        let y = f + Self.rounded16(inputCount)
        let ks = y + Self.rounded16(outputCount) + 16
        // The last pixel's last block reads up to 16 floats past the output: zeros, not garbage
        // (a float conversion of garbage could trap).
        (y + outputCount).initialize(repeating: 0, count: Self.rounded16(outputCount) + 16 - outputCount)
        exactDense!.run(input: f, output: y, scratch: ks)
        let c = geometry.outC
        plainTable.withUnsafeBufferPointer { t in
            for pixel in 0..<(geometry.batch * geometry.outH * geometry.outW) {
                let row = y + pixel * c
                for b in 0..<blocks {
                    let v = UnsafeRawPointer(row + b * 16).loadUnaligned(as: SIMD16<Float>.self)
                    var acc = Int32Vector()
                    for i in 0..<16 { acc[i] = Int32(v[i]) }  // exact integers (lanes past the row are not stored)
                    finish(acc, block: b, t.baseAddress!, output + pixel * c)
                }
            }
        }
    }

    /// The kernel from parameters in memory (as generated code stores them with the weights):
    /// OHWI weights, optional bias, and per-channel (or one) multipliers and shifts.
    @inline(never)
    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>?, inputZeroPoint: Int32,
                multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int8>, channels: Int, outputZeroPoint: Int32, min: Int32, max: Int32) {
        let taps = g.kernelH * g.kernelW * g.inputChannelsPerGroup
        self.init(geometry: g, weights: Array(UnsafeBufferPointer(start: weights, count: g.outC * taps)),
                  bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: g.outC)) }, inputZeroPoint: inputZeroPoint,
                  requantization: Requantization(multipliers: Array(UnsafeBufferPointer(start: multipliers, count: channels)),
                                                 shifts: UnsafeBufferPointer(start: shifts, count: channels).map { Int($0) },
                                                 outputZeroPoint: outputZeroPoint, min: min, max: max))
    }

    /// The int8 input the int32-lane and AVX2 depthwise loops read, with its padded height and
    /// width: the input itself, or its zero-point-padded copy (channels padded to `channelStride`)
    /// at the start of `scratch`.
    func paddedInput(_ input: UnsafePointer<Int8>, _ scratch: UnsafeMutableRawPointer?) -> (UnsafePointer<Int8>, Int, Int) {
        let g = geometry
        guard needsPaddedCopy else { return (input, g.inH, g.inW) }
        let padded = scratch!.bindMemory(to: Int8.self, capacity: g.batch * g.paddedH * g.paddedW * channelStride)
        padInt8(input, g, channelStride: channelStride, fill: Int8(truncatingIfNeeded: inputZeroPoint), padded)
        return (UnsafePointer(padded), g.paddedH, g.paddedW)
    }

    /// Bytes of scratch `run` needs (the zero-point-padded input copy).
    public var scratchBytes: Int {
        #if arch(x86_64) && FERCC_AVX2
        return avx2ScratchBytes
        #else
        if let floats = exactScratchFloats { return floats * 4 }
        return needsPaddedCopy ? geometry.batch * geometry.paddedH * geometry.paddedW * channelStride : 0
        #endif
    }

    /// Convolves `input` into `output`; `scratch` holds at least `scratchBytes` bytes.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer?) {
        #if arch(x86_64) && FERCC_AVX2
        runAVX2(input: input, output: output, scratch: scratch)
        #else
        if exactScratchFloats != nil {
            runExact(input: input, output: output, scratch: scratch!)
            return
        }
        let (x, ph, pw) = paddedInput(input, scratch)
        packed.withUnsafeBufferPointer { p in
            table.withUnsafeBufferPointer { t in
                switch path {
                case .dense: runDense(x, ph, pw, output, p.baseAddress!, t.baseAddress!)
                case .depthwise: runDepthwise(x, ph, pw, output, p.baseAddress!, t.baseAddress!)
                case .reference: runReference(input: input, output: output)
                }
            }
        }
        #endif
    }

    /// Requantizes one block of 16 accumulators and stores the channels that exist. `table`
    /// holds, per block, 16 lanes each of folded bias, multiplier, left shift and right shift.
    @inline(__always)
    func finish(_ acc: Int32Vector, block b: Int, _ table: UnsafePointer<Int32>, _ out: UnsafeMutablePointer<Int8>) {
        let t = UnsafeRawPointer(table + b * 64)
        let v = multiplyByQuantizedMultiplier(acc &+ t.loadUnaligned(as: Int32Vector.self),
                                              t.loadUnaligned(fromByteOffset: 64, as: Int32Vector.self),
                                              leftShift: t.loadUnaligned(fromByteOffset: 128, as: Int32Vector.self),
                                              rightShift: t.loadUnaligned(fromByteOffset: 192, as: Int32Vector.self))
        let z = v &+ Int32Vector(repeating: requant.outputZeroPoint)
        let lo = requant.min, hi = requant.max
        var q = Int32Vector()
        for i in 0..<16 { q[i] = Swift.min(Swift.max(z[i], lo), hi) }
        let o = b * 16
        let valid = Swift.min(geometry.outC - o, 16)
        if valid == 16 {
            var bytes = SIMD16<Int8>()
            for i in 0..<16 { bytes[i] = Int8(truncatingIfNeeded: q[i]) }
            UnsafeMutableRawPointer(out + o).storeBytes(of: bytes, as: SIMD16<Int8>.self)
        } else {
            for i in 0..<valid { out[o + i] = Int8(truncatingIfNeeded: q[i]) }
        }
    }

    @inline(__always)
    static func loadWeights(_ p: UnsafePointer<Int16>) -> Int32Vector {
        widen(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int16>.self))
    }

    func runDense(_ x: UnsafePointer<Int8>, _ ph: Int, _ pw: Int, _ output: UnsafeMutablePointer<Int8>, _ wp: UnsafePointer<Int16>, _ table: UnsafePointer<Int32>) {
        let g = geometry
        let c = g.inC, taps = g.kernelH * g.kernelW
        let step = g.strideW * c
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                let rowBase = x + (n * ph + oh * g.strideH) * pw * c
                let outRow = output + (n * g.outH + oh) * g.outW * g.outC
                var ow = 0
                while ow + 4 <= g.outW {
                    for b in 0..<blocks {
                        var a0 = Int32Vector(), a1 = Int32Vector(), a2 = Int32Vector(), a3 = Int32Vector()
                        var w = wp + b * taps * c * 16
                        for kh in 0..<g.kernelH {
                            for kw in 0..<g.kernelW {
                                let p = rowBase + (kh * g.dilationH * pw + ow * g.strideW + kw * g.dilationW) * c
                                for ci in 0..<c {
                                    let wv = Self.loadWeights(w)
                                    a0 &+= wv &* Int32Vector(repeating: Int32(p[ci]))
                                    a1 &+= wv &* Int32Vector(repeating: Int32(p[ci + step]))
                                    a2 &+= wv &* Int32Vector(repeating: Int32(p[ci + 2 * step]))
                                    a3 &+= wv &* Int32Vector(repeating: Int32(p[ci + 3 * step]))
                                    w += 16
                                }
                            }
                        }
                        let out = outRow + ow * g.outC
                        finish(a0, block: b, table, out)
                        finish(a1, block: b, table, out + g.outC)
                        finish(a2, block: b, table, out + 2 * g.outC)
                        finish(a3, block: b, table, out + 3 * g.outC)
                    }
                    ow += 4
                }
                while ow < g.outW {
                    for b in 0..<blocks {
                        var a0 = Int32Vector()
                        var w = wp + b * taps * c * 16
                        for kh in 0..<g.kernelH {
                            for kw in 0..<g.kernelW {
                                let p = rowBase + (kh * g.dilationH * pw + ow * g.strideW + kw * g.dilationW) * c
                                for ci in 0..<c {
                                    a0 &+= Self.loadWeights(w) &* Int32Vector(repeating: Int32(p[ci]))
                                    w += 16
                                }
                            }
                        }
                        finish(a0, block: b, table, outRow + ow * g.outC)
                    }
                    ow += 1
                }
            }
        }
    }

    func runDepthwise(_ x: UnsafePointer<Int8>, _ ph: Int, _ pw: Int, _ output: UnsafeMutablePointer<Int8>, _ wp: UnsafePointer<Int16>, _ table: UnsafePointer<Int32>) {
        let g = geometry
        let cs = channelStride
        for n in 0..<g.batch {
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    let out = output + ((n * g.outH + oh) * g.outW + ow) * g.outC
                    let base = x + ((n * ph + oh * g.strideH) * pw + ow * g.strideW) * cs
                    for b in 0..<blocks {
                        var acc = Int32Vector()
                        var t = 0
                        for kh in 0..<g.kernelH {
                            for kw in 0..<g.kernelW {
                                let p = base + (kh * g.dilationH * pw + kw * g.dilationW) * cs + b * 16
                                let xv = widen(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int8>.self))
                                acc &+= xv &* Self.loadWeights(wp + t * cs + b * 16)
                                t += 1
                            }
                        }
                        finish(acc, block: b, table, out)
                    }
                }
            }
        }
    }

    /// TFLite's reference loop, for grouped convolutions and depth multipliers above one.
    func runReference(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        let g = geometry
        let cig = g.inputChannelsPerGroup, cog = g.outputChannelsPerGroup
        let zp = inputZeroPoint
        weights.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            for n in 0..<g.batch {
                for oh in 0..<g.outH {
                    let y0 = oh * g.strideH - g.padTop
                    for ow in 0..<g.outW {
                        let x0 = ow * g.strideW - g.padLeft
                        let out = output + ((n * g.outH + oh) * g.outW + ow) * g.outC
                        for oc in 0..<g.outC {
                            let grp = oc / cog
                            var acc: Int32 = 0
                            for kh in 0..<g.kernelH {
                                let y = y0 + kh * g.dilationH
                                if y < 0 || y >= g.inH { continue }
                                for kw in 0..<g.kernelW {
                                    let x = x0 + kw * g.dilationW
                                    if x < 0 || x >= g.inW { continue }
                                    let px = input + ((n * g.inH + y) * g.inW + x) * g.inC + grp * cig
                                    let pw = w + ((oc * g.kernelH + kh) * g.kernelW + kw) * cig
                                    for ci in 0..<cig {
                                        acc = acc &+ Int32(pw[ci]) &* (Int32(px[ci]) &- zp)
                                    }
                                }
                            }
                            out[oc] = Int8(truncatingIfNeeded: requant.apply(acc &+ bias[oc], channel: oc))
                        }
                    }
                }
            }
        }
    }
}

/// An int8 depthwise convolution feeding a 1x1 convolution (DepthwisePointwise in int8 graphs):
/// exactly the integers of the two kernels run one after the other. AVX2 builds compute it in
/// bands of output rows, so the int8 intermediate is only ever a few rows (about 16 KB, in
/// cache) instead of a whole tensor written and read back; portable builds run the two kernels
/// whole, through the scratch.
public struct QuantizedDepthwisePointwiseKernel: Sendable {
    public let depthwise: QuantizedConv2DKernel
    public let pointwise: QuantizedConv2DKernel
    let bandRows: Int

    public init(depthwise: QuantizedConv2DKernel, pointwise: QuantizedConv2DKernel) {
        self.depthwise = depthwise
        self.pointwise = pointwise
        let g = depthwise.geometry
        // About 16 KB of intermediate per band, but at least 64 pixels (the pointwise kernel's chunk).
        bandRows = Swift.max(1, Swift.min(g.outH, Swift.max((64 + g.outW - 1) / g.outW, 16384 / Swift.max(1, g.outW * g.outC))))
    }

    static func rounded64(_ n: Int) -> Int { (n + 63) / 64 * 64 }
    var banded: Bool { quantizedKernelsUseAVX2 && depthwise.geometry.batch == 1 && depthwise.path == .depthwise && pointwise.path == .dense }

    /// Bytes of a band's copy for the pointwise kernel: int16 (`DenseRunsAVX2`), or in AVX-512
    /// builds unsigned bytes with channels rounded up to quads.
    var wideBytes: Int {
        let pixels = bandRows * depthwise.geometry.outW
        return Swift.max(DenseRunsAVX2(pointwise.geometry).copyCount(pixels: pixels) * 2, pixels * ((pointwise.geometry.inC + 3) / 4 * 4))
    }

    /// Bytes of scratch `run` needs.
    public var scratchBytes: Int {
        let g = depthwise.geometry
        if banded {
            let band = bandRows * g.outW * g.outC
            return Self.rounded64(depthwise.scratchBytes) + Self.rounded64(band) + wideBytes
        }
        return Self.rounded64(depthwise.scratchBytes) + Self.rounded64(g.batch * g.outH * g.outW * g.outC) + pointwise.scratchBytes
    }

    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        let g = depthwise.geometry
        let midOffset = Self.rounded64(depthwise.scratchBytes)
        #if arch(x86_64) && FERCC_AVX2
        if banded {
            runBands(input: input, output: output, scratch: scratch)
            return
        }
        #endif
        let mid = (scratch + midOffset).bindMemory(to: Int8.self, capacity: g.batch * g.outH * g.outW * g.outC)
        depthwise.run(input: input, output: mid, scratch: scratch)
        pointwise.run(input: mid, output: output, scratch: scratch + midOffset + Self.rounded64(g.batch * g.outH * g.outW * g.outC))
    }

    #if arch(x86_64) && FERCC_AVX2
    func runBands(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        let dw = depthwise, g = dw.geometry
        let (x, ph, pw) = dw.paddedInput(input, scratch)
        let bandStart = scratch + Self.rounded64(dw.scratchBytes)
        let band = bandStart.bindMemory(to: Int8.self, capacity: bandRows * g.outW * g.outC)
        let wide = (bandStart + Self.rounded64(bandRows * g.outW * g.outC)).bindMemory(to: Int16.self, capacity: wideBytes / 2)
        dw.avx2Packed.withUnsafeBufferPointer { dwp in dw.avx2Table.withUnsafeBufferPointer { dwt in
            pointwise.avx2Packed.withUnsafeBufferPointer { pwp in pointwise.avx2Table.withUnsafeBufferPointer { pwt in
                var r0 = 0
                while r0 < g.outH {
                    let rows = Swift.min(bandRows, g.outH - r0)
                    if QuantizedConv2DKernel.wideDepthwise(g) {
                        #if FERCC_AVX512
                        depthwiseConvAVX512(x, paddedH: ph, paddedW: pw, channelStride: dw.channelStride, g, weights: dwp.baseAddress!,
                                            table: dwt.baseAddress!, requant: dw.requant, simpleRounding: dw.simpleRounding, output: band, rows: r0..<(r0 + rows))
                        #endif
                    } else {
                        depthwiseConvAVX2(x, paddedH: ph, paddedW: pw, channelStride: dw.channelStride, g, weights: dwp.baseAddress!, blocks: dw.blocks,
                                          table: dwt.baseAddress!, requant: dw.requant, foldedRounding: dw.foldedRounding, output: band, rows: r0..<(r0 + rows))
                    }
                    var pg = pointwise.geometry
                    pg.inH = rows
                    pg.outH = rows
                    #if FERCC_AVX512
                    let c4 = (g.outC + 3) / 4 * 4
                    let flipped = UnsafeMutableRawPointer(wide).bindMemory(to: UInt8.self, capacity: bandRows * g.outW * c4)
                    flipPaddedVNNI(band, pg, channelStride: c4, fill: UInt8(truncatingIfNeeded: pointwise.inputZeroPoint) ^ 0x80, flipped)
                    pointwise.vnniPacked.withUnsafeBufferPointer { w in
                        denseConvVNNI(flipped, paddedH: rows, paddedW: pg.inW, channels4: c4, pg, weights: w.baseAddress!, blocks: pointwise.blocks,
                                      table: pwt.baseAddress!, requant: pointwise.requant, simpleRounding: pointwise.simpleRounding,
                                      output: output + r0 * pg.outW * pg.outC)
                    }
                    _ = pwp
                    #else
                    widenPaddedAVX2(band, pg, channelStride: DenseRunsAVX2(pg).stride, fill: Int16(pointwise.inputZeroPoint), wide)
                    denseConvAVX2(wide, paddedH: rows, paddedW: pg.inW, pg, weights: pwp.baseAddress!, blocks: pointwise.blocks,
                                  table: pwt.baseAddress!, requant: pointwise.requant, foldedRounding: pointwise.foldedRounding,
                                  output: output + r0 * pg.outW * pg.outC)
                    #endif
                    r0 += rows
                }
            } }
        } }
    }
    #endif
}
