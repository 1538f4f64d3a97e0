import FerccIR
import FerccKernels
import FerccRuntime
import Foundation

/// Calibration and evaluation inputs: a directory (searched recursively, in sorted order), a
/// glob, or one file, of PNG/JPEG/PGM/PPM images, preprocessed .npy tensors, or a FER2013 CSV.
public enum CalibrationData {
    /// How images become model inputs: gray or RGB, bilinear resize to the model's input size,
    /// pixels to [0, 1], then (x - mean) / std per channel, in the model's layout.
    public struct Preprocessing: Sendable {
        public enum Color: String, Sendable { case auto, gray, rgb }
        public var color: Color = .auto
        public var mean: [Float] = [0]
        public var std: [Float] = [1]
        /// FER2013 CSV rows used (the `Usage` column), all when nil.
        public var usage: String? = nil
        public init() {}
    }

    /// One input: where it came from, its label if the data has one, and the tensor.
    public struct Sample: Sendable {
        public var source: String
        public var label: String?
        public var data: [Float]
    }

    /// The model input's geometry: layout and sizes.
    public struct InputGeometry: Sendable {
        public var shape: [Int]
        public var nchw: Bool
        public var height: Int { shape.count == 4 ? shape[nchw ? 2 : 1] : 0 }
        public var width: Int { shape.count == 4 ? shape[nchw ? 3 : 2] : 0 }
        public var channels: Int { shape.count == 4 ? shape[nchw ? 1 : 3] : 0 }

        public init(_ t: TensorType, sourceFormat: String) {
            shape = t.shape
            // ONNX models are NCHW, TFLite NHWC; a 4-D shape whose axis 1 is 1 or 3 and axis 3 is not reads as NCHW.
            if t.rank == 4 {
                nchw = sourceFormat == "onnx" || ([1, 3].contains(t.shape[1]) && ![1, 3].contains(t.shape[3]))
            } else {
                nchw = false
            }
        }
    }

    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm"]
    static let extensions: Set<String> = imageExtensions.union(["npy", "csv"])

    /// Whether `path` names images or a FER2013 CSV (data the pixel API can take), not .npy tensors.
    public static func isImageData(_ path: String) throws -> Bool {
        try files(path).allSatisfy { !$0.lowercased().hasSuffix(".npy") }
    }

    /// The files `path` names, sorted.
    public static func files(_ path: String) throws -> [String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if path.contains("*") || path.contains("?") || path.contains("[") {
            // POSIX glob(3): wildcards in any path component, sorted matches.
            var g = glob_t()
            defer { globfree(&g) }
            let status = glob(path, 0, nil, &g)
            guard status == 0 || status == GLOB_NOMATCH else {
                throw FerccError(file: path, "cannot expand the pattern")
            }
            var out: [String] = []
            for i in 0..<Int(g.gl_pathc) {
                if let p = g.gl_pathv[i],
                    extensions.contains(URL(fileURLWithPath: String(cString: p)).pathExtension.lowercased())
                {
                    out.append(String(cString: p))
                }
            }
            return out.sorted()
        }
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FerccError(file: path, "no such file or directory")
        }
        if !isDir.boolValue { return [path] }
        // A symbolic link to a directory is listed as the directory (Foundation would list nothing).
        let listed = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let e = fm.enumerator(atPath: listed) else {
            throw FerccError(file: path, "cannot list the directory")
        }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            let full = path + "/" + rel
            if extensions.contains(URL(fileURLWithPath: rel).pathExtension.lowercased()) { out.append(full) }
        }
        return out.sorted()
    }

    /// Loads up to `limit` samples for an input of `geometry` (deterministic order); `progress`
    /// is called with the count loaded so far.
    public static func load(
        _ path: String, geometry: InputGeometry, preprocessing: Preprocessing, limit: Int? = nil,
        progress: ((Int) -> Void)? = nil
    ) throws -> [Sample] {
        let paths = try files(path)
        guard !paths.isEmpty else {
            throw FerccError(file: path, "no calibration data (PNG, JPEG, PGM/PPM, .npy or FER2013 .csv)")
        }
        var samples: [Sample] = []
        let count = geometry.shape.reduce(1, *)
        for file in paths {
            if let limit, samples.count >= limit { break }
            let ext = URL(fileURLWithPath: file).pathExtension.lowercased()
            switch ext {
            case "npy":
                let a: NPY.Array
                do { a = try NPY.read(path: file) } catch let e as FerccError { throw e.inFile(file) }
                guard case .float(let v) = a.tensor else {
                    throw FerccError(file: file, "calibration .npy must be float32 (got \(a.tensor.dtype.rawValue))")
                }
                guard v.count == count else {
                    throw FerccError(
                        file: file,
                        "has shape \(a.shape) (\(v.count) values); the model input is \(geometry.shape) (\(count))")
                }
                guard v.allSatisfy({ $0.isFinite }) else { throw FerccError(file: file, "contains NaN or infinity") }
                samples.append(Sample(source: file, label: label(of: file, root: path), data: v))
            case "csv":
                let rows = try FER2013.read(file, usage: preprocessing.usage, limit: limit.map { $0 - samples.count })
                for (i, r) in rows.enumerated() {
                    samples.append(
                        Sample(
                            source: "\(file):\(r.line)", label: r.label,
                            data: try prepare(
                                r.image, geometry: geometry, preprocessing: preprocessing, source: "\(file):\(r.line)"))
                    )
                    progress?(samples.count)
                    _ = i
                }
            default:
                let image = try ImageDecoder.decode(file)
                samples.append(
                    Sample(
                        source: file, label: label(of: file, root: path),
                        data: try prepare(image, geometry: geometry, preprocessing: preprocessing, source: file)))
            }
            progress?(samples.count)
        }
        guard !samples.isEmpty else {
            throw FerccError(file: path, "no calibration samples (every CSV row filtered out by --usage?)")
        }
        return samples
    }

    /// The class of an ImageFolder file: the name of the folder below `root` that holds it.
    static func label(of file: String, root: String) -> String? {
        guard file.hasPrefix(root + "/") else { return nil }
        let rel = file.dropFirst(root.count + 1).split(separator: "/")
        return rel.count >= 2 ? String(rel[0]) : nil
    }

    /// Image -> model input: color conversion, bilinear resize, [0, 1], mean/std, layout; the
    /// kernels' `ImageInput`, which generated code's `predict(pixels:...)` runs too.
    public static func prepare(
        _ image: Image, geometry g: InputGeometry, preprocessing p: Preprocessing, source: String
    ) throws -> [Float] {
        let input = try imageInput(geometry: g, preprocessing: p, source: source)
        var out = [Float](repeating: 0, count: input.channels * input.width * input.height)
        image.pixels.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { o in
                input.write(
                    pixels: px.baseAddress!, width: image.width, height: image.height,
                    bytesPerRow: image.width * image.channels, format: image.channels == 1 ? .gray8 : .rgb8,
                    into: o.baseAddress!)
            }
        }
        return out
    }

    /// The preprocessing of images for a model input of geometry `g`, checked.
    public static func imageInput(geometry g: InputGeometry, preprocessing p: Preprocessing, source: String) throws
        -> Kernels.ImageInput
    {
        guard g.shape.count == 4, g.shape[0] == 1 else {
            throw FerccError(
                file: source, "images need a model input of shape [1, H, W, C] or [1, C, H, W], not \(g.shape)")
        }
        let c = g.channels
        guard c == 1 || c == 3 else {
            throw FerccError(file: source, "images need 1 or 3 input channels, the model has \(c)")
        }
        let color = p.color == .auto ? (c == 1 ? .gray : .rgb) : p.color
        guard (color == .gray ? 1 : 3) == c else {
            throw FerccError(
                file: source, "--\(color.rawValue) gives \(color == .gray ? 1 : 3) channels, the model takes \(c)")
        }
        let mean = p.mean.count == 1 ? [Float](repeating: p.mean[0], count: c) : p.mean
        let std = p.std.count == 1 ? [Float](repeating: p.std[0], count: c) : p.std
        guard mean.count == c, std.count == c else {
            throw FerccError("--mean and --std take one value or one per channel (the model has \(c))")
        }
        guard mean.allSatisfy(\.isFinite) else { throw FerccError("--mean values must be finite") }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }) else { throw FerccError("--std values must be non-zero") }
        return Kernels.ImageInput(width: g.width, height: g.height, channels: c, nchw: g.nchw, mean: mean, std: std)
    }
}

/// An 8-bit image: `channels` interleaved bytes per pixel (1 gray, 3 RGB), rows packed.
public struct Image: Sendable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// The FER2013 CSV: `emotion,pixels,Usage` with 48x48 space-separated gray pixels.
public enum FER2013 {
    public static let labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

    public struct Row: Sendable {
        public var line: Int
        public var label: String
        public var image: Image
    }

    public static func read(_ path: String, usage: String?, limit: Int?) throws -> [Row] {
        guard let data = readFileContents(path) else {
            throw FerccError(file: path, "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw FerccError(file: path, "is not UTF-8 text") }
        return try parse(text, source: path, usage: usage, limit: limit)
    }

    /// The rows of a FER2013 CSV's text; `source` names it in errors. Works on the UTF-8 bytes
    /// (the full FER2013 file is 290 MB): lines end at "\n", "\r\n" or "\r", fields are split at
    /// commas and trimmed of spaces and tabs, pixels are decimal 0-255 separated by spaces.
    public static func parse(_ text: String, source path: String, usage: String?, limit: Int?) throws -> [Row] {
        var text = text
        return try text.withUTF8 { try parse(bytes: $0, source: path, usage: usage, limit: limit) }
    }

    static func parse(bytes b: UnsafeBufferPointer<UInt8>, source path: String, usage: String?, limit: Int?)
        throws -> [Row]
    {
        let comma = UInt8(ascii: ","), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), zero = UInt8(ascii: "0")
        var rows: [Row] = []
        var emotionColumn = 0, pixelsColumn = 1, usageColumn: Int? = 2
        let wantedUsage = usage.map { Array($0.lowercased().utf8) }
        func trimmed(_ r: Range<Int>) -> Range<Int> {
            var lo = r.lowerBound, hi = r.upperBound
            while lo < hi, b[lo] == space || b[lo] == tab { lo += 1 }
            while hi > lo, b[hi - 1] == space || b[hi - 1] == tab { hi -= 1 }
            return lo..<hi
        }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
        func lowered(_ r: Range<Int>) -> [UInt8] {
            b[r].map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        }
        var lineIndex = 0, start = 0
        var fields: [Range<Int>] = []
        while start < b.count {
            var end = start
            while end < b.count, b[end] != lf, b[end] != cr { end += 1 }
            let next = end < b.count && b[end] == cr && end + 1 < b.count && b[end + 1] == lf ? end + 2 : end + 1
            defer { lineIndex += 1; start = next }
            if end == start { continue }
            let i = lineIndex
            fields.removeAll(keepingCapacity: true)
            var f = start
            for k in start...end where k == end || b[k] == comma {
                fields.append(trimmed(f..<k))
                f = k + 1
            }
            if i == 0 {
                let names = fields.map { lowered($0) }
                guard let e = names.firstIndex(of: Array("emotion".utf8)),
                    let p = names.firstIndex(of: Array("pixels".utf8))
                else {
                    throw FerccError(
                        file: "\(path):1", "not a FER2013 CSV: the header must name 'emotion' and 'pixels' columns")
                }
                emotionColumn = e; pixelsColumn = p; usageColumn = names.firstIndex(of: Array("usage".utf8))
                if usage != nil, usageColumn == nil {
                    throw FerccError(file: "\(path):1", "--usage: the CSV has no Usage column")
                }
                continue
            }
            if let limit, rows.count >= limit { break }
            let where_ = "\(path):\(i + 1)"
            guard fields.count > max(emotionColumn, pixelsColumn) else {
                throw FerccError(
                    file: where_, "has \(fields.count) columns, expected \(max(emotionColumn, pixelsColumn) + 1)")
            }
            if let wantedUsage, let u = usageColumn, fields.count > u, lowered(fields[u]) != wantedUsage { continue }
            guard let emotion = Int(text(fields[emotionColumn])), labels.indices.contains(emotion) else {
                throw FerccError(file: where_, "emotion '\(text(fields[emotionColumn]))' is not a class index 0-6")
            }
            // Pixels: runs of non-space bytes, each a decimal 0-255.
            var tokens: [Range<Int>] = []
            tokens.reserveCapacity(48 * 48)
            let px = fields[pixelsColumn]
            var k = px.lowerBound
            while k < px.upperBound {
                while k < px.upperBound, b[k] == space { k += 1 }
                let t = k
                while k < px.upperBound, b[k] != space { k += 1 }
                if k > t { tokens.append(t..<k) }
            }
            guard tokens.count == 48 * 48 else {
                throw FerccError(file: where_, "has \(tokens.count) pixels, a FER2013 row has 2304 (48x48)")
            }
            var pixels = [UInt8](repeating: 0, count: 48 * 48)
            for (n, t) in tokens.enumerated() {
                var v = 0
                for j in t {
                    let d = Int(b[j]) - Int(zero)
                    guard d >= 0, d <= 9 else { v = 256; break }
                    v = min(v * 10 + d, 256)
                }
                guard v <= 255 else { throw FerccError(file: where_, "pixel \(n + 1) is '\(text(t))', not 0-255") }
                pixels[n] = UInt8(v)
            }
            rows.append(
                Row(
                    line: i + 1, label: labels[emotion],
                    image: Image(width: 48, height: 48, channels: 1, pixels: pixels)))
        }
        return rows
    }
}
