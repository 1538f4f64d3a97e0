/// BatchNorm's inference form as y = x * scale + shift per channel, computed in Double:
/// scale = gamma / sqrt(variance + epsilon), shift = beta - mean * scale. The interpreter, the
/// fold-batchnorm pass and the code generator all use this one formula.
public func batchNormScaleShift(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float)
    -> (scale: [Double], shift: [Double])
{
    var scale: [Double] = [], shift: [Double] = []
    scale.reserveCapacity(gamma.count)
    shift.reserveCapacity(gamma.count)
    for c in gamma.indices {
        let s = Double(gamma[c]) / (Double(variance[c]) + Double(epsilon)).squareRoot()
        scale.append(s)
        shift.append(Double(beta[c]) - Double(mean[c]) * s)
    }
    return (scale, shift)
}
