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

        /// Off AArch64 the add runs inside the 1x1 kernel's stores (`ResidualClamp`): reading back
        /// and rewriting the band the tiles had just written was 14% of BlazeFace's time, and the
        /// residual's own loads almost nothing (design decision 43). AArch64's tiles store
        /// through the clamp's `apply` only, and a row activation runs after the add: those keep
        /// the add after the kernel.
        public func convolve<P: VectorClamp>(
            _ kernel: Conv2DKernel, band: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
            firstPixel: Int, clamp: P
        ) {
            #if !arch(arm64)
            if rowActivation == nil && kernel.rowActivation == nil {
                let r = residual + firstPixel * channels
                @inline(__always) func fused<A: VectorClamp>(_ after: A) {
                    kernel.run(
                        input: band, output: output, scratch: band,
                        clamp: ResidualClamp(first: clamp, after: after, residual: r, pitch: channels))
                }
                switch self.clamp {
                case nil: fused(NoClamp())
                case .relu?: fused(ReluClamp())
                case .clip(let lo, let hi)?: fused(ClipClamp(low: lo, high: hi))
                }
                return
            }
            #endif
            kernel.run(input: band, output: output, scratch: band, clamp: clamp)
            let g = kernel.geometry
            run(output, firstPixel: firstPixel, pixels: g.outH * g.outW, channels: g.outC)
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

    /// The store of a convolution followed by a residual add: `after(first(v) + r)`, r the
    /// residual's channels of the stored pixel (`pitch` floats per pixel, pixel 0 at `residual`),
    /// zero beyond its `channels`: the same bits as storing `first(v)` and adding after. For a
    /// run over one image (the tiles number its pixels); every tile stores through `store`,
    /// whose `pixel` finds the residual.
    struct ResidualClamp<First: VectorClamp, After: VectorClamp>: VectorClamp {
        let first: First, after: After
        /// Pixel 0's residual from the block's first channel.
        let residual: UnsafePointer<Float>
        let pitch: Int
        /// The residual's channels from the block's first on (none when not positive).
        let channels: Int

        /// `channels` defaults to `pitch`: the residual as wide as its rows.
        init(first: First, after: After, residual: UnsafePointer<Float>, pitch: Int, channels: Int? = nil) {
            self.first = first
            self.after = after
            self.residual = residual
            self.pitch = pitch
            self.channels = channels ?? pitch
        }

        /// Both clamps without the residual: what a store that names no pixel would get, which no
        /// tile does.
        @inline(__always) func apply<V: FloatLanes>(_ v: V) -> V { after.apply(first.apply(v)) }

        /// The first `count` floats at `r` (all lanes' worth at most, none when not positive), zeros above.
        @inline(__always) func residualLanes<V: FloatLanes>(_: V.Type, _ r: UnsafePointer<Float>, _ count: Int) -> V {
            count >= V.lanes ? V.load(r) : V.load(r, count: Swift.max(0, count))
        }

        @inline(__always)
        func store<V: FloatLanes>(_ v: V, _ o: UnsafeMutablePointer<Float>, pixel: Int, count: Int) {
            let r = residualLanes(V.self, residual + pixel &* pitch, channels)
            after.apply(V(first.apply(v).v + r.v)).store(o, count: count)
        }

        @inline(__always) func block(_ channel: Int) -> Self {
            Self(
                first: first, after: after, residual: residual + channel, pitch: pitch, channels: channels - channel)
        }
    }
}
