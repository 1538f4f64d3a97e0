/// The vector type the fp32 kernels compute with: 16 floats (one AVX-512 register, two AVX2
/// registers, four NEON registers).
public typealias FloatVector = SIMD16<Float>

@inline(__always)
func loadVector(_ p: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
}

@inline(__always)
func storeVector(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
}

/// Stores the first `count` lanes of `v` (count < 16) at `p`.
@inline(__always)
func storeLanes(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    if count >= 8 {  // 8-channel layers and tails (24 = 16 + 8): one vector store
        storeVector8(v.lowHalf, p)
        i = 8
    }
    while i < count { p[i] = v[i]; i += 1 }
}

/// Stores the first `count` lanes of `v` (count <= 8) at `p`.
@inline(__always)
func storeLanes8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == 8 { storeVector8(v, p); return }
    for i in 0..<count { p[i] = v[i] }
}

/// Loads `count` floats (count < 16) into the low lanes, zeros elsewhere.
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ count: Int) -> FloatVector {
    var v = FloatVector()
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always)
func loadVector8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func storeVector8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// multiplyAdd on 8 lanes (channel counts of 8 to 15, and tails of 8), swapped the same way.
@inline(__always)
func multiplyAdd8(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    acc.addingProduct(a, b)
}

/// acc + a * b, fused. Every kernel multiply-add goes through here so that code generated for
/// targets without FMA can swap in a separate multiply and add (on x86-64 without FMA flags,
/// `addingProduct` becomes calls to `fmaf`, about 100x slower).
@inline(__always)
func multiplyAdd(_ acc: FloatVector, _ a: FloatVector, _ b: FloatVector) -> FloatVector {
    acc.addingProduct(a, b)
}

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
/// run-time check inside the tile loop cost the 1x1 convolutions 10-30% (measured).
protocol VectorClamp {
    func apply(_ v: FloatVector) -> FloatVector
    func apply(_ v: SIMD8<Float>) -> SIMD8<Float>
}

struct NoClamp: VectorClamp {
    @inline(__always) func apply(_ v: FloatVector) -> FloatVector { v }
    @inline(__always) func apply(_ v: SIMD8<Float>) -> SIMD8<Float> { v }
}

struct ReluClamp: VectorClamp {
    @inline(__always) func apply(_ v: FloatVector) -> FloatVector { v.replacing(with: 0, where: .!(v .> 0)) }
    @inline(__always) func apply(_ v: SIMD8<Float>) -> SIMD8<Float> { v.replacing(with: 0, where: .!(v .> 0)) }
}

struct ClipClamp: VectorClamp {
    let low: Float, high: Float
    @inline(__always) func apply(_ v: FloatVector) -> FloatVector {
        let a = v.replacing(with: low, where: v .< low)
        return a.replacing(with: high, where: a .> high)
    }
    @inline(__always) func apply(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let a = v.replacing(with: low, where: v .< low)
        return a.replacing(with: high, where: a .> high)
    }
}
