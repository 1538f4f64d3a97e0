extension Kernels {
    /// Geometry of a 2-D convolution or pooling window over an NHWC tensor.
    public struct Conv2DGeometry: Equatable, Sendable {
        public var batch: Int, inH: Int, inW: Int, inC: Int
        public var outH: Int, outW: Int, outC: Int
        public var kernelH: Int, kernelW: Int
        public var strideH: Int, strideW: Int
        public var dilationH: Int, dilationW: Int
        public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
        public var groups: Int

        /// Input (batch, height, width, channels), output (height, width, channels), then (height,
        /// width) pairs and pads (top, left, bottom, right).
        public init(
            input i: (Int, Int, Int, Int), output o: (Int, Int, Int), kernel k: (Int, Int),
            stride s: (Int, Int) = (1, 1),
            dilation d: (Int, Int) = (1, 1), pads p: (Int, Int, Int, Int) = (0, 0, 0, 0), groups: Int = 1
        ) {
            (batch, inH, inW, inC) = i
            (outH, outW, outC) = o
            (kernelH, kernelW) = k
            (strideH, strideW) = s
            (dilationH, dilationW) = d
            (padTop, padLeft, padBottom, padRight) = p
            self.groups = groups
        }

        /// Input rows one output row's windows span, and input columns one pixel's window spans.
        public var spanH: Int { (kernelH - 1) * dilationH + 1 }
        public var spanW: Int { (kernelW - 1) * dilationW + 1 }
        public var paddedH: Int { inH + padTop + padBottom }
        public var paddedW: Int { inW + padLeft + padRight }
        public var hasPadding: Bool { padTop != 0 || padLeft != 0 || padBottom != 0 || padRight != 0 }
        /// Floats of the padded input the convolutions materialize (none without padding): their scratch.
        public var paddedInputCount: Int { hasPadding ? batch * paddedH * paddedW * inC : 0 }
        public var inputChannelsPerGroup: Int { inC / groups }
        public var outputChannelsPerGroup: Int { outC / groups }
        public var isDepthwise: Bool { inputChannelsPerGroup == 1 && outputChannelsPerGroup == 1 }
    }

    /// Copies an NHWC tensor into the middle of a larger zero-filled (or `fill`-filled) one, so that
    /// window loops need no bounds checks.
    public static func padNHWC(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
        batch: Int, h: Int, w: Int, c: Int,
        top: Int, left: Int, bottom: Int, right: Int, fill: Float
    ) {
        let ph = h + top + bottom, pw = w + left + right
        fillBorder(dst, batch: batch, h: h, w: w, c: c, top: top, left: left, bottom: bottom, right: right, fill: fill)
        for n in 0..<batch {
            for y in 0..<h {
                UnsafeMutableRawPointer(dst + ((n * ph + y + top) * pw + left) * c).copyMemory(
                    from: src + ((n * h + y) * w) * c, byteCount: w * c * 4)
            }
        }
    }

    /// The input of a convolution of geometry `g`: copied with its zero padding into `scratch`
    /// (`g.paddedInputCount` floats) when `g` has padding, or `input` itself.
    static func zeroPadded(
        _ input: UnsafePointer<Float>, _ g: Conv2DGeometry, scratch: UnsafeMutablePointer<Float>
    ) -> UnsafePointer<Float> {
        guard g.hasPadding else { return input }
        padNHWC(
            input, scratch, batch: g.batch, h: g.inH, w: g.inW, c: g.inC,
            top: g.padTop, left: g.padLeft, bottom: g.padBottom, right: g.padRight, fill: 0)
        return UnsafePointer(scratch)
    }

    /// Fills the border of a padded NHWC tensor (`c` elements per pixel): only what a copy of the
    /// `h` x `w` inside leaves (filling the whole buffer before the copy was most of a small
    /// depthwise layer's time).
    static func fillBorder<T>(
        _ dst: UnsafeMutablePointer<T>, batch: Int, h: Int, w: Int, c: Int,
        top: Int, left: Int, bottom: Int, right: Int, fill: T
    ) {
        let pw = w + left + right
        for n in 0..<batch {
            let image = dst + n * (h + top + bottom) * pw * c
            image.initialize(repeating: fill, count: top * pw * c)
            for y in 0..<h {
                let row = image + (y + top) * pw * c
                row.initialize(repeating: fill, count: left * c)
                (row + (left + w) * c).initialize(repeating: fill, count: right * c)
            }
            (image + (top + h) * pw * c).initialize(repeating: fill, count: bottom * pw * c)
        }
    }
}
