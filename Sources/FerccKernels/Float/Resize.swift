// fercc-kernel requires: Common/Math.swift

extension Kernels {
    /// Bilinear or nearest-neighbour resize of an NHWC tensor with TFLite's coordinate rules
    /// (align_corners, half_pixel_centers).
    public static func resizeNHWC(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int,
        outH: Int, outW: Int, bilinear: Bool, alignCorners: Bool, halfPixelCenters: Bool
    ) {
        func scale(_ i: Int, _ o: Int) -> Float {
            alignCorners && o > 1 ? Float(i - 1) / Float(o - 1) : Float(i) / Float(o)
        }
        let sh = scale(inH, outH), sw = scale(inW, outW)
        for n in 0..<batch {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    let out = y + ((n * outH + oy) * outW + ox) * channels
                    if bilinear {
                        let fy = halfPixelCenters ? (Float(oy) + 0.5) * sh - 0.5 : Float(oy) * sh
                        let fx = halfPixelCenters ? (Float(ox) + 0.5) * sw - 0.5 : Float(ox) * sw
                        let y0 = max(Int(KernelMath.round(fy, .down)), 0), x0 = max(Int(KernelMath.round(fx, .down)), 0)
                        let y1 = min(Int(KernelMath.round(fy, .up)), inH - 1),
                            x1 = min(Int(KernelMath.round(fx, .up)), inW - 1)
                        let dy = fy - Float(Int(KernelMath.round(fy, .down))),
                            dx = fx - Float(Int(KernelMath.round(fx, .down)))
                        for c in 0..<channels {
                            func at(_ yy: Int, _ xx: Int) -> Float { x[((n * inH + yy) * inW + xx) * channels + c] }
                            out[c] =
                                at(y0, x0) * (1 - dy) * (1 - dx) + at(y1, x0) * dy * (1 - dx)
                                + at(y0, x1) * (1 - dy) * dx + at(y1, x1) * dy * dx
                        }
                    } else {
                        let offset: Float = halfPixelCenters ? 0.5 : 0
                        var iy = Int(
                            alignCorners
                                ? KernelMath.round(((Float(oy) + offset) * sh), .toNearestOrAwayFromZero)
                                : KernelMath.round(((Float(oy) + offset) * sh), .down))
                        var ix = Int(
                            alignCorners
                                ? KernelMath.round(((Float(ox) + offset) * sw), .toNearestOrAwayFromZero)
                                : KernelMath.round(((Float(ox) + offset) * sw), .down))
                        iy = min(max(iy, 0), inH - 1)
                        ix = min(max(ix, 0), inW - 1)
                        UnsafeMutableRawPointer(out).copyMemory(
                            from: x + ((n * inH + iy) * inW + ix) * channels,
                            byteCount: channels * MemoryLayout<Float>.stride)
                    }
                }
            }
        }
    }
}
