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
    for i in 0..<count { p[i] = v[i] }
}

/// Loads `count` floats (count < 16) into the low lanes, zeros elsewhere.
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ count: Int) -> FloatVector {
    var v = FloatVector()
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// acc + a * b, fused. Every kernel multiply-add goes through here so that code generated for
/// targets without FMA can swap in a separate multiply and add (on x86-64 without FMA flags,
/// `addingProduct` becomes calls to `fmaf`, about 100x slower).
@inline(__always)
func multiplyAdd(_ acc: FloatVector, _ a: FloatVector, _ b: FloatVector) -> FloatVector {
    acc.addingProduct(a, b)
}
