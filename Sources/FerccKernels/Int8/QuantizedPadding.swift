// fercc-kernel requires: Common/Geometry.swift Data/StridedCopy.swift

extension Kernels {
    /// Fills what a padded copy of `g`'s input (`channelStride` elements per pixel) does not copy:
    /// the border only when the copy writes every element of a pixel (`wholePixels`: always when
    /// `channelStride` is the channel count; filling the whole buffer first doubled the bytes
    /// written for large layers), else everything.
    static func fillPadding<T>(
        _ y: UnsafeMutablePointer<T>, _ g: Conv2DGeometry, channelStride cs: Int, fill: T, wholePixels: Bool
    ) {
        guard wholePixels else {
            y.initialize(repeating: fill, count: g.batch * g.paddedH * g.paddedW * cs)
            return
        }
        fillBorder(
            y, batch: g.batch, h: g.inH, w: g.inW, c: cs, top: g.padTop, left: g.padLeft, bottom: g.padBottom,
            right: g.padRight, fill: fill)
    }

    /// Copies an int8 NHWC tensor into the middle of a larger one filled with `fill`, with
    /// `channelStride` >= channels bytes per pixel (the extra lanes hold `fill` too).
    static func padInt8(
        _ x: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride: Int, fill: Int8, _ y: UnsafeMutablePointer<Int8>
    ) {
        let ph = g.paddedH, pw = g.paddedW, c = g.inC
        // Rows by copyMemory (a memmove): update(from:count:) is an element loop of value-witness
        // calls under Embedded Swift (12 AArch64 instructions a byte, measured).
        fillPadding(y, g, channelStride: channelStride, fill: fill, wholePixels: channelStride == c)
        for n in 0..<g.batch {
            for h in 0..<g.inH {
                let src = x + (n * g.inH + h) * g.inW * c
                let dst = y + ((n * ph + h + g.padTop) * pw + g.padLeft) * channelStride
                if channelStride == c {
                    UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: g.inW * c)
                } else if channelStride == 4 {
                    // 1 to 3 channels (gray and RGB stems): one 4-byte word per pixel, the fill in
                    // its upper bytes, a loop per channel count (a copyMemory per pixel was a
                    // memmove call: about 40 AArch64 instructions for 3 bytes).
                    let fillWord = UInt32(UInt8(bitPattern: fill)) &* 0x0101_0101 & (UInt32.max << (8 * c))
                    @inline(__always) func words(_ c: Int) {
                        for w in 0..<g.inW {
                            let s = UnsafeRawPointer(src + w &* c)
                            var v: UInt32
                            if c == 1 {
                                v = UInt32(s.load(as: UInt8.self))
                            } else {
                                v = UInt32(UInt16(littleEndian: s.loadUnaligned(as: UInt16.self)))
                                if c == 3 { v |= UInt32(s.load(fromByteOffset: 2, as: UInt8.self)) << 16 }
                            }
                            let word = (v | fillWord).littleEndian
                            UnsafeMutableRawPointer(dst + w &* 4).storeBytes(of: word, as: UInt32.self)
                        }
                    }
                    switch c {
                    case 1: words(1)
                    case 2: words(2)
                    default: words(3)
                    }
                } else {
                    for w in 0..<g.inW {
                        copyBytes(UnsafeMutableRawPointer(dst + w &* channelStride), src + w &* c, count: c)
                    }
                }
            }
        }
    }

    /// Calls `body` with the offset of each kernel tap (in kernel order) from a window's first
    /// element, in an input `pw` pixels wide with `channelStride` elements per pixel.
    @inline(__always)
    static func withTapOffsets<R>(
        _ g: Conv2DGeometry, paddedW pw: Int, channelStride: Int, _ body: (UnsafeMutableBufferPointer<Int>) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: g.kernelH * g.kernelW) { offsets in
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    offsets[kh * g.kernelW + kw] = (kh * g.dilationH * pw + kw * g.dilationW) * channelStride
                }
            }
            return body(offsets)
        }
    }

    /// The int8 input a convolution loop reads, with its padded height and width: the input
    /// itself, or its zero-point-padded copy (channels padded to `channelStride`) at the start of
    /// `scratch`.
    static func zeroPointPadded(
        _ input: UnsafePointer<Int8>, _ g: Conv2DGeometry, channelStride: Int, copy: Bool,
        zeroPoint: Int32, _ scratch: UnsafeMutableRawPointer?
    ) -> (UnsafePointer<Int8>, Int, Int) {
        guard copy else { return (input, g.inH, g.inW) }
        let padded = scratch!.bindMemory(to: Int8.self, capacity: g.batch * g.paddedH * g.paddedW * channelStride)
        padInt8(input, g, channelStride: channelStride, fill: Int8(truncatingIfNeeded: zeroPoint), padded)
        return (UnsafePointer(padded), g.paddedH, g.paddedW)
    }
}
