import FerccKernels

/// The data-movement ops as element moves, so that float and quantized tensors share them.
struct TransposeMove: ElementMove {
    var shape: [Int]
    var perm: [Int]
    func callAsFunction<T>(_ v: [T]) -> [T] {
        v.withUnsafeBufferPointer { x in makeArray(v.count) { transpose(x.baseAddress!, shape, perm: perm, $0) } }
    }
}

struct SliceMove: ElementMove {
    var base: Int
    var strides: [Int]
    var sizes: [Int]
    func callAsFunction<T>(_ v: [T]) -> [T] {
        let count = sizes.reduce(1, *)
        return v.withUnsafeBufferPointer { x in
            makeArray(count) { stridedCopy(x.baseAddress! + base, strides, $0, contiguousStrides(sizes), sizes) }
        }
    }
}

/// Constant pad whose fill is the first element of `fill` (converted by the caller to T).
struct PadMove<F>: ElementMove {
    var shape: [Int]
    var pads: [Int]
    var fill: F
    var outCount: Int
    func callAsFunction<T>(_ v: [T]) -> [T] {
        let value = fill as! T
        return v.withUnsafeBufferPointer { x in makeArray(outCount) { pad(x.baseAddress!, shape, pads: pads, value: value, $0) } }
    }
}

func concatenate(_ parts: [RuntimeTensor], shapes: [[Int]], axis: Int, outShape: [Int]) -> RuntimeTensor {
    struct Concat: ElementMove {
        var parts: [RuntimeTensor]
        var shapes: [[Int]]
        var axis: Int
        var outShape: [Int]
        func callAsFunction<T>(_ first: [T]) -> [T] {
            let outStrides = contiguousStrides(outShape)
            return makeArray(outShape.reduce(1, *)) { out in
                var offset = 0
                for (part, shape) in zip(parts, shapes) {
                    let data = Self.elements(part) as [T]
                    data.withUnsafeBufferPointer { x in
                        if let base = x.baseAddress {
                            stridedCopy(base, contiguousStrides(shape), out + offset * outStrides[axis], outStrides, shape)
                        }
                    }
                    offset += shape[axis]
                }
            }
        }
        static func elements<T>(_ t: RuntimeTensor) -> [T] {
            switch t {
            case .float(let v): return v as! [T]
            case .int8(let v): return v as! [T]
            case .uint8(let v): return v as! [T]
            case .int32(let v): return v as! [T]
            }
        }
    }
    return parts[0].moved(Concat(parts: parts, shapes: shapes, axis: axis, outShape: outShape))
}
