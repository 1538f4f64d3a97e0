// fercc-kernel requires: Common/Activation.swift
// fercc-kernel requires(neon): Common/ARM64/SIMD+NEON.swift
// fercc-kernel requires(avx2): Common/AVX2/SIMD+AVX2.swift

extension Kernels {
    /// The activations a convolution applies to its accumulators in registers, before storing them:
    /// ReLU and clip (ReLU6 and friends), with exactly `Activation.run`'s results, NaN included
    /// (ReLU turns NaN into 0, clip keeps it). Other activations run over each finished output row.
    public enum OutputClamp: Sendable, Equatable {
        case relu
        case clip(low: Float, high: Float)

        public init?(_ activation: Activation) {
            switch activation {
            case .relu: self = .relu
            case .clip(let lo, let hi): self = .clip(low: lo, high: hi)
            default: return nil
            }
        }
    }

    /// A clamp as a type, so that a microkernel generic over it is specialized once per kind: a
    /// run-time check inside the tile loop cost the 1x1 convolutions 10-30% (measured). Kernels
    /// take it as a type argument too, so generated code, which knows each kernel's clamp,
    /// compiles only the kinds its model uses (each kind of the dense convolution is about 2 s
    /// of swiftc -O).
    ///
    /// The convolution tiles store through it (`store`), naming each vector's output pixel, so
    /// that a clamp can also add a residual on the way (`ResidualClamp`).
    public protocol VectorClamp {
        func apply<V: FloatLanes>(_ v: V) -> V
        /// `v` clamped into the first `count` lanes at `o`: channels from this clamp's block
        /// (`block`) on of output pixel `pixel`, numbered from the first of the convolution's run.
        func store<V: FloatLanes>(_ v: V, _ o: UnsafeMutablePointer<Float>, pixel: Int, count: Int)
        /// This clamp for the output channels from `channel` on of its block.
        func block(_ channel: Int) -> Self
    }

    public struct NoClamp: VectorClamp {
        public init() {}
        @inline(__always) public func apply<V: FloatLanes>(_ v: V) -> V { v }
        @inline(__always)
        public func store<V: FloatLanes>(_ v: V, _ o: UnsafeMutablePointer<Float>, pixel: Int, count: Int) {
            apply(v).store(o, count: count)
        }
        @inline(__always) public func block(_: Int) -> Self { self }
    }

    public struct ReluClamp: VectorClamp {
        public init() {}
        @inline(__always) public func apply<V: FloatLanes>(_ v: V) -> V { v.relu() }
        @inline(__always)
        public func store<V: FloatLanes>(_ v: V, _ o: UnsafeMutablePointer<Float>, pixel: Int, count: Int) {
            apply(v).store(o, count: count)
        }
        @inline(__always) public func block(_: Int) -> Self { self }
    }

    public struct ClipClamp: VectorClamp {
        let low: Float, high: Float
        public init(low: Float, high: Float) {
            self.low = low
            self.high = high
        }
        @inline(__always) public func apply<V: FloatLanes>(_ v: V) -> V { v.clip(low, high) }
        @inline(__always)
        public func store<V: FloatLanes>(_ v: V, _ o: UnsafeMutablePointer<Float>, pixel: Int, count: Int) {
            apply(v).store(o, count: count)
        }
        @inline(__always) public func block(_: Int) -> Self { self }
    }

    /// The float vectors the convolution loops run on: `Lanes16` (`FloatVector`), and `Lanes8`
    /// for blocks of at most 8 channels. Loops written once, generic over the two, compile to the
    /// concrete vector instructions: every operation is inlined into each specialization. They wrap
    /// the standard library's SIMD types instead of extending them, so that two generated models in
    /// one module (each with its own copy of the kernels) do not declare the same members twice.
    public protocol FloatLanes {
        associatedtype Storage: SIMD where Storage.Scalar == Float
        var v: Storage { get set }
        init(_ v: Storage)
        /// self + a * b: fused where the build has FMA (arm64, and x86-64 with FERCC_AVX2, whose
        /// flags enable it), a multiply and an add elsewhere. Every fp32 kernel multiply-add goes
        /// through here: on x86-64 without FMA flags `addingProduct` becomes calls to `fmaf`,
        /// about 100x slower.
        func adding(_ a: Self, times b: Self) -> Self
        /// ReLU: NaN becomes 0, as `Activation.relu`.
        func relu() -> Self
        /// min(max(self, low), high) lane by lane (NaN stays NaN).
        func clip(_ low: Float, _ high: Float) -> Self
        /// `self > other ? self : other` lane by lane: a NaN in `self` is skipped, one in `other` kept.
        func maximum(_ other: Self) -> Self
    }

    /// The vector type the fp32 kernels compute with: 16 floats (one AVX-512 register, two AVX2
    /// registers, four NEON registers).
    public typealias FloatVector = Lanes16

    /// The arithmetic is written on the concrete SIMD types: called generically, the standard
    /// library's SIMD operations are element-by-element loops (a generic Lanes<S> ran 1.5x the
    /// instructions).
    public struct Lanes16: FloatLanes {
        public var v: SIMD16<Float>
        @inline(__always) public init(_ v: SIMD16<Float>) { self.v = v }
        @inline(__always) public func adding(_ a: Self, times b: Self) -> Self {
            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
            return Self(v.addingProduct(a.v, b.v))
            #else
            return Self(v + a.v * b.v)
            #endif
        }
        #if arch(arm64)
        @inline(__always) public func relu() -> Self { Self(Kernels.reluNEON(v)) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self { Self(Kernels.clipNEON(v, low, high)) }
        #elseif arch(x86_64) && FERCC_AVX2
        @inline(__always) public func relu() -> Self { Self(Kernels.reluAVX2(v)) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self { Self(Kernels.clipAVX2(v, low, high)) }
        @inline(__always) public func maximum(_ other: Self) -> Self { Self(Kernels.maximumAVX2(v, other.v)) }
        #else
        @inline(__always) public func relu() -> Self { Self(v.replacing(with: 0, where: .!(v .> 0))) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self {
            let a = v.replacing(with: low, where: v .< low)
            return Self(a.replacing(with: high, where: a .> high))
        }
        #endif
        #if !(arch(x86_64) && FERCC_AVX2)
        @inline(__always) public func maximum(_ other: Self) -> Self {
            Self(other.v.replacing(with: v, where: v .> other.v))
        }
        #endif
    }

    public struct Lanes8: FloatLanes {
        public var v: SIMD8<Float>
        @inline(__always) public init(_ v: SIMD8<Float>) { self.v = v }
        @inline(__always) public func adding(_ a: Self, times b: Self) -> Self {
            #if (arch(x86_64) && FERCC_AVX2) || arch(arm64)
            return Self(v.addingProduct(a.v, b.v))
            #else
            return Self(v + a.v * b.v)
            #endif
        }
        #if arch(arm64)
        @inline(__always) public func relu() -> Self { Self(Kernels.reluNEON(v)) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self { Self(Kernels.clipNEON(v, low, high)) }
        #elseif arch(x86_64) && FERCC_AVX2
        @inline(__always) public func relu() -> Self { Self(Kernels.reluAVX2(v)) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self { Self(Kernels.clipAVX2(v, low, high)) }
        @inline(__always) public func maximum(_ other: Self) -> Self { Self(Kernels.maximumAVX2(v, other.v)) }
        #else
        @inline(__always) public func relu() -> Self { Self(v.replacing(with: 0, where: .!(v .> 0))) }
        @inline(__always) public func clip(_ low: Float, _ high: Float) -> Self {
            let a = v.replacing(with: low, where: v .< low)
            return Self(a.replacing(with: high, where: a .> high))
        }
        #endif
        #if !(arch(x86_64) && FERCC_AVX2)
        @inline(__always) public func maximum(_ other: Self) -> Self {
            Self(other.v.replacing(with: v, where: v .> other.v))
        }
        #endif
    }
}

/// Loads and stores, written once for both widths (moving bytes needs no concrete type).
extension Kernels.FloatLanes {
    @inline(__always) public static var lanes: Int { Storage.scalarCount }
    @inline(__always) public static func splat(_ x: Float) -> Self { Self(Storage(repeating: x)) }
    /// `lanes` floats at `p` (unaligned).
    @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Self {
        Self(UnsafeRawPointer(p).loadUnaligned(as: Storage.self))
    }
    @inline(__always) public func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Storage.self)
    }
    /// The first `count` (<= lanes) floats at `p`, zeros above.
    @inline(__always) public static func load(_ p: UnsafePointer<Float>, count: Int) -> Self {
        if count == lanes { return load(p) }
        #if arch(x86_64) && FERCC_AVX512
        return Self(Kernels.loadPrefixAVX512(p, count, as: Storage.self))
        #else
        var v = splat(0)
        for i in 0..<count { v.v[i] = p[i] }
        return v
        #endif
    }
    /// The first `count` lanes (count <= lanes).
    @inline(__always) public func store(_ p: UnsafeMutablePointer<Float>, count: Int) {
        #if arch(x86_64) && FERCC_AVX512
        if count == Self.lanes { store(p) } else { Kernels.storePrefixAVX512(p, count, v) }
        #else
        if count == Self.lanes { store(p) } else { storePrefix(p, count) }
        #endif
    }
    /// The rare partial store (a layer's last channels) as a call: inlined, its loop was a quarter
    /// of each convolution tile's code (AVX-512 builds store with one masked instruction instead).
    @inline(never) func storePrefix(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { p[i] = v[i] }
    }
}
