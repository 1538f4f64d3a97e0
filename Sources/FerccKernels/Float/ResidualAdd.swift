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
            switch clamp {
            case nil: add(r, out, rows, width, rc, NoClamp())
            case .relu?: add(r, out, rows, width, rc, ReluClamp())
            case .clip(let lo, let hi)?: add(r, out, rows, width, rc, ClipClamp(low: lo, high: hi))
            }
            if let a = rowActivation { a.run(out, out, count: pixels * oc) }
        }

        @inline(__always)
        private func add<C: VectorClamp>(
            _ r: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ rows: Int, _ width: Int, _ rc: Int,
            _ clamp: C
        ) {
            for p in 0..<rows {
                let o = out + p &* width, s = r + p &* rc
                var c = 0
                while c &+ 8 <= rc {
                    clamp.apply(Lanes8(Lanes8.load(o + c).v + Lanes8.load(s + c).v)).store(o + c)
                    c &+= 8
                }
                // The last residual channels and the output's channels beyond them (+ 0).
                while c < width {
                    let n = Swift.min(8, width &- c), k = Swift.max(0, Swift.min(8, rc &- c))
                    clamp.apply(Lanes8(Lanes8.load(o + c, count: n).v + Lanes8.load(s + c, count: k).v))
                        .store(o + c, count: n)
                    c &+= 8
                }
            }
        }
    }
}
