extension Kernels {
    /// The byte layouts of 8-bit images the pixel API reads.
    public enum PixelFormat: Sendable, Equatable {
        /// One byte per pixel, gray.
        case gray8
        /// Three bytes per pixel: red, green, blue.
        case rgb8
        /// Four bytes per pixel: red, green, blue, alpha (ignored).
        case rgba8
        /// Four bytes per pixel: blue, green, red, alpha (ignored), as Core Video's 32BGRA.
        case bgra8

        public var bytesPerPixel: Int {
            switch self {
            case .gray8: return 1
            case .rgb8: return 3
            case .rgba8, .bgra8: return 4
            }
        }
    }

    /// How an 8-bit image becomes a model input, the one definition that `fercc quantize` applies to
    /// calibration images and that generated code's `predict(pixels:...)` runs: each pixel to the
    /// model's channels (ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B for a gray model, gray
    /// replicated for an RGB one), a bilinear resize to the input size with half-pixel centers (as
    /// PIL and OpenCV's INTER_LINEAR), x / 255, then (x - mean) / std per channel, in NCHW or NHWC.
    public struct ImageInput: Sendable, Equatable {
        public var width: Int, height: Int, channels: Int
        public var nchw: Bool
        /// One value per channel.
        public var mean: [Float], std: [Float]

        public init(width: Int, height: Int, channels: Int, nchw: Bool, mean: [Float], std: [Float]) {
            self.width = width
            self.height = height
            self.channels = channels
            self.nchw = nchw
            self.mean = mean
            self.std = std
        }

        /// Writes the `width` x `height` x `channels` floats of the model input for the image of
        /// `imageWidth` x `imageHeight` pixels at `pixels` (rows `bytesPerRow` apart) into `out`.
        public func write(
            pixels: UnsafePointer<UInt8>, width imageWidth: Int, height imageHeight: Int, bytesPerRow: Int,
            format: PixelFormat, into out: UnsafeMutablePointer<Float>
        ) {
            let bpp = format.bytesPerPixel
            // The channels of the model at source pixel (x, y), as the resize interpolates them.
            @inline(__always) func value(_ x: Int, _ y: Int, _ c: Int) -> Float {
                let p = pixels + y * bytesPerRow + x * bpp
                switch format {
                case .gray8: return Float(p[0])
                case .rgb8, .rgba8, .bgra8:
                    let (r, g, b) = format == .bgra8 ? (p[2], p[1], p[0]) : (p[0], p[1], p[2])
                    if channels == 1 { return 0.299 * Float(r) + 0.587 * Float(g) + 0.114 * Float(b) }
                    return Float(c == 0 ? r : (c == 1 ? g : b))
                }
            }
            let sx = Float(imageWidth) / Float(width), sy = Float(imageHeight) / Float(height)
            let same = imageWidth == width && imageHeight == height
            for y in 0..<height {
                let fy = max((Float(y) + 0.5) * sy - 0.5, 0)
                let y0 = min(Int(fy), imageHeight - 1), y1 = min(y0 + 1, imageHeight - 1), dy = fy - Float(y0)
                for x in 0..<width {
                    let fx = max((Float(x) + 0.5) * sx - 0.5, 0)
                    let x0 = min(Int(fx), imageWidth - 1), x1 = min(x0 + 1, imageWidth - 1), dx = fx - Float(x0)
                    for c in 0..<channels {
                        var v: Float
                        if same {
                            v = value(x, y, c)
                        } else {
                            let a = value(x0, y0, c), b = value(x1, y0, c)
                            let d = value(x0, y1, c), e = value(x1, y1, c)
                            v = (a * (1 - dx) + b * dx) * (1 - dy) + (d * (1 - dx) + e * dx) * dy
                        }
                        out[nchw ? (c * height + y) * width + x : (y * width + x) * channels + c] =
                            (v / 255 - mean[c]) / std[c]
                    }
                }
            }
        }
    }
}
