// fercc-kernel requires: Int8/Requantization.swift

extension Kernels {

    /// int8 fully connected: out[b, o] = requant(sum_k w[o, k] * (x[b, k] - zp_in) + bias[o]).
    public struct QuantizedFullyConnectedKernel: Sendable {
        let weights: [Int8]  // [outputs, depth]
        let bias: [Int32]
        let outputs: Int
        let depth: Int
        let inputZeroPoint: Int32
        let requant: Requantization

        @inline(never)
        public init(
            weights: [Int8], bias: [Int32]?, outputs: Int, depth: Int, inputZeroPoint: Int32,
            requantization: Requantization
        ) {
            self.weights = weights
            self.bias = bias ?? [Int32](repeating: 0, count: outputs)
            self.outputs = outputs
            self.depth = depth
            self.inputZeroPoint = inputZeroPoint
            requant = requantization
        }

        /// The kernel from parameters in memory (see `QuantizedConvParameters`).
        @inline(never)
        public init(
            weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>?, outputs: Int, depth: Int, inputZeroPoint: Int32,
            multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int8>, scales: UnsafePointer<Float>? = nil,
            channels: Int, outputZeroPoint: Int32, min: Int32, max: Int32
        ) {
            self.init(
                weights: Array(UnsafeBufferPointer(start: weights, count: outputs * depth)),
                bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: outputs)) }, outputs: outputs,
                depth: depth,
                inputZeroPoint: inputZeroPoint,
                requantization: Requantization(
                    multipliers: Array(UnsafeBufferPointer(start: multipliers, count: channels)),
                    shifts: UnsafeBufferPointer(start: shifts, count: channels).map { Int($0) },
                    floatScales: scales.map { Array(UnsafeBufferPointer(start: $0, count: channels)) },
                    outputZeroPoint: outputZeroPoint, min: min, max: max))
        }

        public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, batch: Int) {
            weights.withUnsafeBufferPointer { wb in
                for b in 0..<batch {
                    let x = input + b * depth
                    for o in 0..<outputs {
                        let w = wb.baseAddress! + o * depth
                        var acc: Int32 = 0
                        for k in 0..<depth { acc = acc &+ Int32(w[k]) &* (Int32(x[k]) &- inputZeroPoint) }
                        output[b * outputs + o] = Int8(truncatingIfNeeded: requant.apply(acc &+ bias[o], channel: o))
                    }
                }
            }
        }
    }
}
