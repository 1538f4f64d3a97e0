import CONNX
import FerccIR
import Foundation

/// Reads an ONNX file through protobuf-c and copies it into `ONNXModel`. The only place that
/// handles protobuf-c's pointers.
public enum ONNXReader {
    public static func read(path: String) throws -> ONNXModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FerccError(file: path, "no such file")
        }
        guard let data = readFileContents(path) else {
            throw FerccError(file: path, "cannot read the file")
        }
        return try read(data: data, path: path)
    }

    public static func read(data: Data, path: String) throws -> ONNXModel {
        guard !data.isEmpty else { throw FerccError(file: path, "the file is empty, not an ONNX model") }
        let message = data.withUnsafeBytes { raw -> UnsafeMutablePointer<Onnx__ModelProto>? in
            onnx__model_proto__unpack(nil, raw.count, raw.bindMemory(to: UInt8.self).baseAddress)
        }
        guard let message else {
            throw FerccError(file: path, "not a valid ONNX protobuf (unreadable or truncated)")
        }
        defer { onnx__model_proto__free_unpacked(message, nil) }
        let m = message.pointee
        guard let graphPtr = m.graph else {
            throw FerccError(file: path, "the model holds no graph (not an ONNX model, or truncated)")
        }
        var opsets: [String: Int] = [:]
        for op in buffer(m.opset_import, m.n_opset_import) {
            guard let op else { continue }
            var domain = string(op.pointee.domain)
            if domain == "ai.onnx" { domain = "" }
            opsets[domain] = op.pointee.has_version != 0 ? Int(op.pointee.version) : 1
        }
        let g = graphPtr.pointee
        var nodes: [ONNXNode] = []
        for (i, nodePtr) in buffer(g.node, g.n_node).enumerated() {
            guard let n = nodePtr?.pointee else { continue }
            let opType = string(n.op_type)
            let name = string(n.name)
            var attributes: [String: ONNXAttribute] = [:]
            for a in buffer(n.attribute, n.n_attribute) {
                guard let a else { continue }
                attributes[string(a.pointee.name)] = attribute(a.pointee)
            }
            nodes.append(
                ONNXNode(
                    name: name, opType: opType, domain: string(n.domain),
                    inputs: buffer(n.input, n.n_input).map(string),
                    outputs: buffer(n.output, n.n_output).map(string),
                    attributes: attributes,
                    displayName: name.isEmpty ? "\(opType) node #\(i)" : name))
        }
        return ONNXModel(
            irVersion: m.has_ir_version != 0 ? Int(m.ir_version) : 0,
            producer: [string(m.producer_name), string(m.producer_version)].filter { !$0.isEmpty }.joined(
                separator: " "),
            opsets: opsets,
            graph: ONNXGraph(
                name: string(g.name),
                nodes: nodes,
                initializers: buffer(g.initializer, g.n_initializer).compactMap { $0.map { tensor($0.pointee) } },
                inputs: buffer(g.input, g.n_input).compactMap { $0.map { valueInfo($0.pointee) } },
                outputs: buffer(g.output, g.n_output).compactMap { $0.map { valueInfo($0.pointee) } },
                valueInfo: buffer(g.value_info, g.n_value_info).compactMap { $0.map { valueInfo($0.pointee) } }))
    }

    static func buffer<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> UnsafeBufferPointer<T> {
        guard let p, n > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: n)
    }

    static func string(_ p: UnsafeMutablePointer<CChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    static func bytes(_ b: ProtobufCBinaryData) -> [UInt8] {
        guard let d = b.data, b.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: d, count: b.len))
    }

    static func attribute(_ a: Onnx__AttributeProto) -> ONNXAttribute {
        let type = a.has_type != 0 ? Int(a.type.rawValue) : -1
        switch type {
        case 1: return .float(a.f)
        case 2: return .int(a.i)
        case 3: return .string(String(decoding: bytes(a.s), as: UTF8.self))
        case 4: return a.t.map { .tensor(tensor($0.pointee)) } ?? .unsupported("empty tensor attribute")
        case 6: return .floats(Array(buffer(a.floats, a.n_floats)))
        case 7: return .ints(Array(buffer(a.ints, a.n_ints)))
        case 8: return .strings(buffer(a.strings, a.n_strings).map { String(decoding: bytes($0), as: UTF8.self) })
        case 5, 10: return .unsupported("graph attribute")
        case -1:
            // IR version 1 files may omit the type: infer it from which field is set.
            if a.t != nil { return .tensor(tensor(a.t!.pointee)) }
            if a.n_ints > 0 { return .ints(Array(buffer(a.ints, a.n_ints))) }
            if a.n_floats > 0 { return .floats(Array(buffer(a.floats, a.n_floats))) }
            if a.has_i != 0 { return .int(a.i) }
            if a.has_f != 0 { return .float(a.f) }
            if a.has_s != 0 { return .string(String(decoding: bytes(a.s), as: UTF8.self)) }
            return .unsupported("attribute without a type")
        default: return .unsupported("attribute type \(type)")
        }
    }

    static func valueInfo(_ v: Onnx__ValueInfoProto) -> ONNXValueInfo {
        var elem = 0
        var dims: [ONNXDim]?
        if let t = v.type, t.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, let tt = t.pointee.tensor_type {
            elem = tt.pointee.has_elem_type != 0 ? Int(tt.pointee.elem_type) : 0
            if let shape = tt.pointee.shape {
                dims = buffer(shape.pointee.dim, shape.pointee.n_dim).map { d in
                    guard let d else { return .unknown }
                    switch d.pointee.value_case {
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: return .value(Int(d.pointee.dim_value))
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                        return .symbol(string(d.pointee.dim_param))
                    default: return .unknown
                    }
                }
            }
        }
        return ONNXValueInfo(name: string(v.name), elemType: elem, dims: dims)
    }

    static func tensor(_ t: Onnx__TensorProto) -> ONNXTensor {
        let name = string(t.name)
        let dims = buffer(t.dims, t.n_dims).map { Int($0) }
        let dataType = t.has_data_type != 0 ? Int(t.data_type) : 0
        let data: Result<TensorData, FerccError>
        do {
            data = .success(try decode(t, name: name, dims: dims, dataType: dataType))
        } catch let e as FerccError {
            data = .failure(e)
        } catch {
            data = .failure(FerccError("tensor '\(name)': \(error)"))
        }
        return ONNXTensor(name: name, dims: dims, dataType: dataType, data: data)
    }

    static func decode(_ t: Onnx__TensorProto, name: String, dims: [Int], dataType: Int) throws -> TensorData {
        guard dims.allSatisfy({ $0 >= 0 }) else {
            throw FerccError("tensor '\(name)' has a negative dimension \(dims)")
        }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= 1 << 34 else { throw FerccError("tensor '\(name)' is impossibly large \(dims)") }
            count = p
        }
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
            || t.n_external_data > 0
        {
            throw FerccError(
                "tensor '\(name)' keeps its data in an external file, which fercc does not read; save the model "
                    + "with all tensors inside it (onnx.save(..., save_as_external_data=False))"
            )
        }
        let raw: [UInt8]? = t.has_raw_data != 0 ? bytes(t.raw_data) : nil
        func fromRaw<T>(_ type: T.Type, _ convert: (T) -> Float) throws -> [Float] {
            let size = MemoryLayout<T>.size
            guard raw!.count == count * size else {
                throw FerccError(
                    "tensor '\(name)' holds \(raw!.count) bytes of raw data, its shape \(dims) needs \(count * size)")
            }
            return raw!.withUnsafeBytes { r in
                (0..<count).map { convert(r.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
            }
        }
        func fromRawInt<T: BinaryInteger>(_ type: T.Type) throws -> [Int64] {
            let size = MemoryLayout<T>.size
            guard raw!.count == count * size else {
                throw FerccError(
                    "tensor '\(name)' holds \(raw!.count) bytes of raw data, its shape \(dims) needs \(count * size)")
            }
            return raw!.withUnsafeBytes { r in
                (0..<count).map { Int64(r.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
            }
        }
        func checked<T>(_ v: [T]) throws -> [T] {
            guard v.count == count else {
                throw FerccError("tensor '\(name)' holds \(v.count) values, its shape \(dims) needs \(count)")
            }
            return v
        }
        switch dataType {
        case 1:
            if raw != nil { return .float(try fromRaw(Float.self) { $0 }) }
            return .float(try checked(Array(buffer(t.float_data, t.n_float_data))))
        case 11:
            if raw != nil { return .float(try fromRaw(Double.self) { Float($0) }) }
            return .float(try checked(buffer(t.double_data, t.n_double_data).map { Float($0) }))
        case 10:
            if raw != nil { return .float(try fromRaw(UInt16.self, halfToFloat)) }
            return .float(
                try checked(buffer(t.int32_data, t.n_int32_data).map { halfToFloat(UInt16(truncatingIfNeeded: $0)) }))
        case 7:
            if raw != nil { return .int64(try fromRawInt(Int64.self)) }
            return .int64(try checked(Array(buffer(t.int64_data, t.n_int64_data))))
        case 6:
            if raw != nil { return .int64(try fromRawInt(Int32.self)) }
            return .int64(try checked(buffer(t.int32_data, t.n_int32_data).map { Int64($0) }))
        case 9:
            if raw != nil { return .int64(try fromRawInt(UInt8.self)) }
            return .int64(try checked(buffer(t.int32_data, t.n_int32_data).map { Int64($0) }))
        case 2:  // uint8 and int8 keep their type: QDQ zero points say which activation type a model uses
            if raw != nil { return .uint8(try fromRawInt(UInt8.self).map { UInt8($0) }) }
            return .uint8(try checked(buffer(t.int32_data, t.n_int32_data).map { UInt8(truncatingIfNeeded: $0) }))
        case 3:
            if raw != nil { return .int8(try fromRawInt(Int8.self).map { Int8($0) }) }
            return .int8(try checked(buffer(t.int32_data, t.n_int32_data).map { Int8(truncatingIfNeeded: $0) }))
        default:
            throw FerccError(
                "tensor '\(name)' has element type \(ONNXDataType.name(dataType)), which fercc does not read")
        }
    }
}
