import FerccIR
import FerccRuntime
import Foundation

/// Reads and writes NumPy `.npy` files (format versions 1 to 3): little-endian float32, and int8
/// or uint8 for the raw tensors of quantized models.
public enum NPY {
    public struct Array: Equatable {
        public var shape: [Int]
        public var tensor: RuntimeTensor

        public init(shape: [Int], data: [Float]) {
            self.shape = shape
            tensor = .float(data)
        }

        public init(shape: [Int], tensor: RuntimeTensor) {
            self.shape = shape
            self.tensor = tensor
        }

        /// The elements as floats (integers converted as numbers).
        public var data: [Float] {
            switch tensor {
            case .float(let v): return v
            case .int8(let v): return v.map { Float($0) }
            case .uint8(let v): return v.map { Float($0) }
            case .int32(let v): return v.map { Float($0) }
            }
        }
    }

    public static func read(path: String) throws -> Array {
        guard FileManager.default.fileExists(atPath: path) else { throw FerccError(file: path, "no such file") }
        guard let bytes = readFileContents(path) else {
            throw FerccError(file: path, "cannot read the file")
        }
        do {
            return try parse([UInt8](bytes))
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    public static func parse(_ b: [UInt8]) throws -> Array {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard b.count >= 10, b[0..<6].elementsEqual(magic) else { throw FerccError("not a .npy file (bad magic)") }
        let major = b[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(b[8]) | Int(b[9]) << 8
            headerStart = 10
        case 2, 3:
            guard b.count >= 12 else { throw FerccError("truncated .npy header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            headerStart = 12
        default:
            throw FerccError(".npy format version \(major) is not supported")
        }
        guard headerStart + headerLength <= b.count else { throw FerccError("truncated .npy header") }
        let header = String(decoding: b[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard let descr = field(header, "descr"), let fortran = field(header, "fortran_order"),
            let shapeText = field(header, "shape")
        else {
            throw FerccError("unreadable .npy header: \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let dtype = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        let elementSize: Int
        switch dtype {
        case "<f4", "=f4", "|f4": elementSize = 4
        case "|i1", "<i1", "=i1", "|u1", "<u1", "=u1": elementSize = 1
        default:
            throw FerccError(
                "the array is \(dtypeName(dtype)), fercc expects float32 ('<f4'), or int8/uint8 for raw quantized "
                    + "tensors"
            )
        }
        guard fortran.trimmingCharacters(in: .whitespaces) == "False" else {
            throw FerccError("Fortran-ordered arrays are not supported; save a C-ordered array")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw FerccError("bad .npy shape (\(shapeText))") }
            shape.append(n)
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw FerccError("bad .npy shape (\(shapeText))") }
            count = p
        }
        let dataStart = headerStart + headerLength
        guard b.count - dataStart == count * elementSize else {
            throw FerccError(
                "the array holds \(b.count - dataStart) bytes of data, shape \(shape) needs \(count * elementSize) "
                    + "(truncated file?)"
            )
        }
        if elementSize == 1 {
            let bytes = b[dataStart...]
            return Array(
                shape: shape,
                tensor: dtype.hasSuffix("i1") ? .int8(bytes.map { Int8(bitPattern: $0) }) : .uint8(Swift.Array(bytes)))
        }
        let data = b.withUnsafeBytes { r in
            (0..<count).map {
                Float(
                    bitPattern: UInt32(
                        littleEndian: r.loadUnaligned(fromByteOffset: dataStart + $0 * 4, as: UInt32.self)))
            }
        }
        return Array(shape: shape, data: data)
    }

    /// The value text of `'key': value` in a .npy header dict (tuples kept whole).
    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return String(rest[..<end])
    }

    static func dtypeName(_ d: String) -> String {
        switch d.dropFirst() {
        case "f8": return "float64"
        case "f2": return "float16"
        case "i1": return "int8"
        case "u1": return "uint8"
        case "i4": return "int32"
        case "i8": return "int64"
        default: return "'\(d)'"
        }
    }

    public static func encode(_ a: Array) -> [UInt8] {
        let shapeText =
            a.shape.count == 1 ? "(\(a.shape[0]),)" : "(\(a.shape.map(String.init).joined(separator: ", ")))"
        let descr: String
        switch a.tensor {
        case .int8: descr = "|i1"
        case .uint8: descr = "|u1"
        case .int32: descr = "<i4"
        case .float: descr = "<f4"
        }
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let n = header.utf8.count
        out += [UInt8(n & 0xff), UInt8(n >> 8)]
        out += Swift.Array(header.utf8)
        switch a.tensor {
        case .int8(let v): out += v.map { UInt8(bitPattern: $0) }
        case .uint8(let v): out += v
        case .int32(let v):
            for x in v {
                let u = UInt32(bitPattern: x);
                out += [UInt8(u & 0xff), UInt8((u >> 8) & 0xff), UInt8((u >> 16) & 0xff), UInt8(u >> 24)]
            }
        case .float(let v):
            out.reserveCapacity(out.count + v.count * 4)
            for x in v {
                let bits = x.bitPattern.littleEndian
                out += [UInt8(bits & 0xff), UInt8((bits >> 8) & 0xff), UInt8((bits >> 16) & 0xff), UInt8(bits >> 24)]
            }
        }
        return out
    }

    public static func write(_ a: Array, to path: String) throws {
        try AtomicFile.write(Data(encode(a)), to: path)
    }
}
