import FerccKernels

// The kernel types the lowering names most, without their namespace.
typealias Requantization = Kernels.Requantization
typealias QuantizedMath = Kernels.QuantizedMath
