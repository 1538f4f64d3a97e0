import CImage
import FerccIR
import Foundation

/// Decodes calibration images by content (not by extension): PNG and JPEG through libpng and
/// libjpeg-turbo, binary PGM/PPM (P5/P6, 8-bit) natively. Any failure is a FerccError naming the file.
public enum ImageDecoder {
    public static func decode(_ path: String) throws -> Image {
        guard let data = readFileContents(path) else {
            throw FerccError(file: path, "cannot read the file")
        }
        return try decode([UInt8](data), source: path)
    }

    public static func decode(_ bytes: [UInt8], source: String) throws -> Image {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodeC(bytes, source: source, png: true) }
        if bytes.starts(with: [0xFF, 0xD8]) { return try decodeC(bytes, source: source, png: false) }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"),
            bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6")
        {
            return try decodePNM(bytes, source: source)
        }
        let ext = URL(fileURLWithPath: source).pathExtension.lowercased()
        let kind = ["jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "pgm": "PGM", "ppm": "PPM"][ext] ?? "image"
        throw FerccError(
            file: source, "is not a \(kind) file (unrecognized signature; PNG, JPEG, PGM P5 and PPM P6 are read)")
    }

    static func decodeC(_ bytes: [UInt8], source: String, png: Bool) throws -> Image {
        var img = cimage()
        let status = bytes.withUnsafeBufferPointer { b in
            png ? cimage_decode_png(b.baseAddress, b.count, &img) : cimage_decode_jpeg(b.baseAddress, b.count, &img)
        }
        defer { cimage_free(&img) }
        if status != 0 {
            let message = withUnsafeBytes(of: img.error) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let text = message.replacingOccurrences(of: "\n", with: " ")
            throw FerccError(file: source, status == 1 ? "corrupt \(png ? "PNG" : "JPEG"): \(text)" : text)
        }
        let n = Int(img.width) * Int(img.height) * Int(img.channels)
        guard n > 0, let p = img.pixels else { throw FerccError(file: source, "empty image") }
        let pixels = Array(UnsafeBufferPointer(start: p, count: n))
        return Image(width: Int(img.width), height: Int(img.height), channels: Int(img.channels), pixels: pixels)
    }

    /// Binary PGM (P5) and PPM (P6) with maxval <= 255.
    static func decodePNM(_ b: [UInt8], source: String) throws -> Image {
        var i = 2
        func token() throws -> Int {
            while i < b.count {
                if b[i] == UInt8(ascii: "#") {
                    while i < b.count, b[i] != 10 { i += 1 }
                } else if [9, 10, 13, 32].contains(b[i]) {
                    i += 1
                } else {
                    break
                }
            }
            var v = 0, digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57, digits < 9 { v = v * 10 + Int(b[i] - 48); i += 1; digits += 1 }
            guard digits > 0 else { throw FerccError(file: source, "corrupt PNM header") }
            return v
        }
        let channels = b[1] == UInt8(ascii: "5") ? 1 : 3
        let w = try token(), h = try token(), maxval = try token()
        i += 1  // one whitespace byte before the raster
        guard w > 0, h > 0, w * h <= 64 << 20 else {
            throw FerccError(file: source, "PNM size \(w)x\(h) is not supported")
        }
        guard maxval > 0, maxval <= 255 else {
            throw FerccError(file: source, "PNM maxval \(maxval) is not supported (8-bit only)")
        }
        let n = w * h * channels
        guard b.count - i >= n else {
            throw FerccError(file: source, "truncated PNM: \(max(b.count - i, 0)) of \(n) pixel bytes")
        }
        // Samples of a smaller maxval are scaled to 8 bits (rounded): the pixel API reads bytes.
        let pixels = (0..<n).map { k in
            maxval == 255 ? b[i + k] : UInt8((Float(min(Int(b[i + k]), maxval)) * 255 / Float(maxval)).rounded())
        }
        return Image(width: w, height: h, channels: channels, pixels: pixels)
    }
}
