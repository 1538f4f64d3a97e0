// fercc-kernel requires: Float/DepthwisePointwise.swift

extension Kernels {
    /// A residual connection fused into a convolution's output, run over each band of output
    /// rows right after it is written: out = activation(out + r), r with `channels` (at most the
    /// output's) per pixel; the output's other channels get + 0, as from a zero channel Pad of r.
    /// The Add (and the Pad) then never read or write whole tensors. Same bits as the Add after
    /// the kernel.
    public struct ResidualAdd: BandEpilogue {
        let residual: UnsafePointer<Float>
        let channels: Int
        let clamp: OutputClamp?
        /// An activation that is not a clamp, run over the band after the add.
        let rowActivation: Activation?

        public init(_ residual: UnsafePointer<Float>, channels: Int, activation: Activation = .identity) {
            self.residual = residual
            self.channels = channels
            clamp = OutputClamp(activation)
            rowActivation = clamp == nil && activation != .identity ? activation : nil
        }

        public func run(_ out: UnsafeMutablePointer<Float>, firstPixel: Int, pixels: Int, channels oc: Int) {
            let r = residual + firstPixel * channels
            // The same channels: one contiguous run of pixels x channels.
            let (rows, width, rc) = channels == oc ? (1, pixels * oc, pixels * oc) : (pixels, oc, channels)
            // AVX-512: 16 lanes, every tail one masked load and store. Elsewhere 8 lanes (a
            // partial vector there is a loop of scalars).
            #if arch(x86_64) && FERCC_AVX512
            typealias V = FloatVector
            #else
            typealias V = Lanes8
            #endif
            switch clamp {
            case nil: add(V.self, r, out, rows, width, rc, NoClamp())
            case .relu?: add(V.self, r, out, rows, width, rc, ReluClamp())
            case .clip(let lo, let hi)?: add(V.self, r, out, rows, width, rc, ClipClamp(low: lo, high: hi))
            }
            if let a = rowActivation { a.run(out, out, count: pixels * oc) }
        }

        @inline(__always)
        private func add<V: FloatLanes, C: VectorClamp>(
            _: V.Type, _ r: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ rows: Int, _ width: Int,
            _ rc: Int, _ clamp: C
        ) {
            for p in 0..<rows {
                let o = out + p &* width, s = r + p &* rc
                var c = 0
                while c &+ V.lanes <= rc {
                    clamp.apply(V(V.load(o + c).v + V.load(s + c).v)).store(o + c)
                    c &+= V.lanes
                }
                // The last residual channels and the output's channels beyond them (+ 0).
                while c < width {
                    let n = Swift.min(V.lanes, width &- c), k = Swift.max(0, Swift.min(V.lanes, rc &- c))
                    clamp.apply(V(V.load(o + c, count: n).v + V.load(s + c, count: k).v)).store(o + c, count: n)
                    c &+= V.lanes
                }
            }
        }
    }
}
