import CTFLite
import FerccIR
import Foundation

/// Reads a TFLite file through the CTFLite shim (flatbuffers Verifier first) and copies its
/// first subgraph into `TFLiteModel`. The only code that touches the shim's pointers.
public enum TFLiteReader {
    public static func read(path: String) throws -> TFLiteModel {
        guard FileManager.default.fileExists(atPath: path) else { throw FerccError(file: path, "no such file") }
        guard let data = readFileContents(path) else {
            throw FerccError(file: path, "cannot read the file")
        }
        do {
            return try read(bytes: [UInt8](data))
        } catch let e as FerccError {
            throw e.inFile(path)
        }
    }

    public static func read(bytes: [UInt8]) throws -> TFLiteModel {
        var message = [CChar](repeating: 0, count: 256)
        let handle = bytes.withUnsafeBufferPointer { b in
            fercc_tflite_open(b.baseAddress, b.count, &message, message.count)
        }
        guard let handle else {
            throw FerccError(String(cString: message))
        }
        defer { fercc_tflite_close(handle) }
        let subgraphs = fercc_tflite_subgraph_count(handle)
        guard subgraphs >= 1 else { throw FerccError("the model has no subgraph") }

        let bufferCount = fercc_tflite_buffer_count(handle)
        var tensors: [TFLiteTensor] = []
        let tensorCount = fercc_tflite_tensor_count(handle, 0)
        for i in 0..<tensorCount {
            var t = FerccTFLiteTensor()
            guard fercc_tflite_tensor(handle, 0, i, &t) == 0 else { throw FerccError("cannot read tensor \(i)") }
            let name = String(cString: t.name)
            var data: [UInt8]?
            if t.buffer != 0 {
                guard Int(t.buffer) < bufferCount else {
                    throw FerccError("tensor \(i) '\(name)' refers to buffer \(t.buffer), the model has \(bufferCount)")
                }
                var p: UnsafePointer<UInt8>?
                var size = 0
                guard fercc_tflite_buffer(handle, Int(t.buffer), &p, &size) == 0 else {
                    throw FerccError("buffer \(t.buffer) of tensor '\(name)' lies outside the file")
                }
                if let p, size > 0 { data = Array(UnsafeBufferPointer(start: p, count: size)) }
            }
            tensors.append(
                TFLiteTensor(
                    index: i, name: name, type: Int(t.type),
                    shape: ints(t.shape, t.shape_count),
                    data: data,
                    scales: t.scale.map { Array(UnsafeBufferPointer(start: $0, count: t.scale_count)) } ?? [],
                    zeroPoints: t.zero_point.map { Array(UnsafeBufferPointer(start: $0, count: t.zero_point_count)) }
                        ?? [],
                    quantizedDimension: Int(t.quantized_dimension),
                    isSparse: t.is_sparse != 0, hasCustomQuantization: t.has_custom_quantization != 0,
                    isVariable: t.is_variable != 0))
        }

        func checkedTensorIndices(_ list: [Int], _ what: String, allowOmitted: Bool) throws -> [Int] {
            for idx in list where !(idx >= 0 && idx < tensorCount) && !(allowOmitted && idx == -1) {
                throw FerccError("\(what) refers to tensor \(idx), the subgraph has \(tensorCount)")
            }
            return list
        }

        let opcodeCount = fercc_tflite_opcode_count(handle)
        var operators: [TFLiteOperator] = []
        for i in 0..<fercc_tflite_operator_count(handle, 0) {
            var o = FerccTFLiteOperator()
            guard fercc_tflite_operator(handle, 0, i, &o) == 0 else { throw FerccError("cannot read operator \(i)") }
            guard Int(o.opcode_index) < opcodeCount else {
                throw FerccError("operator \(i) refers to opcode \(o.opcode_index), the model has \(opcodeCount)")
            }
            var code = FerccTFLiteOpcode()
            _ = fercc_tflite_opcode(handle, Int(o.opcode_index), &code)
            var options = TFLiteOptions()
            options.optionsType = Int(o.options_type)
            options.hasCustomOptions = o.has_custom_options != 0
            options.padding = Int(o.padding)
            options.strideW = Int(o.stride_w); options.strideH = Int(o.stride_h)
            options.dilationW = Int(o.dilation_w); options.dilationH = Int(o.dilation_h)
            options.filterW = Int(o.filter_w); options.filterH = Int(o.filter_h)
            options.depthMultiplier = Int(o.depth_multiplier)
            options.fusedActivation = Int(o.fused_activation)
            options.weightsFormat = Int(o.weights_format)
            options.keepNumDims = o.keep_num_dims != 0
            options.asymmetricQuantizeInputs = o.asymmetric_quantize_inputs != 0
            options.keepDims = o.keep_dims != 0
            options.beta = o.beta
            options.alpha = o.alpha
            options.axis = Int(o.axis)
            options.batchDims = Int(o.batch_dims)
            options.num = Int(o.num)
            options.beginMask = Int(o.begin_mask); options.endMask = Int(o.end_mask)
            options.ellipsisMask = Int(o.ellipsis_mask); options.newAxisMask = Int(o.new_axis_mask)
            options.shrinkAxisMask = Int(o.shrink_axis_mask); options.offset = o.offset != 0
            options.alignCorners = o.align_corners != 0; options.halfPixelCenters = o.half_pixel_centers != 0
            options.newShape = o.has_new_shape != 0 ? ints(o.new_shape, o.new_shape_count) : nil
            options.squeezeDims = ints(o.squeeze_dims, o.squeeze_dims_count)
            operators.append(
                TFLiteOperator(
                    index: i, builtinCode: Int(code.builtin_code), version: Int(code.version),
                    customCode: code.custom_code.map { String(cString: $0) },
                    inputs: try checkedTensorIndices(
                        ints(o.inputs, o.input_count), "operator \(i)", allowOmitted: true),
                    outputs: try checkedTensorIndices(
                        ints(o.outputs, o.output_count), "operator \(i)", allowOmitted: false),
                    options: options))
        }
        var n = 0
        let ins = ints(fercc_tflite_subgraph_io(handle, 0, 0, &n), n)
        let outs = ints(fercc_tflite_subgraph_io(handle, 0, 1, &n), n)
        return TFLiteModel(
            schemaVersion: Int(fercc_tflite_schema_version(handle)),
            description: String(cString: fercc_tflite_description(handle)),
            subgraphCount: subgraphs,
            tensors: tensors, operators: operators,
            inputs: try checkedTensorIndices(ins, "the subgraph's inputs", allowOmitted: false),
            outputs: try checkedTensorIndices(outs, "the subgraph's outputs", allowOmitted: false))
    }

    static func ints(_ p: UnsafePointer<Int32>?, _ n: Int) -> [Int] {
        guard let p, n > 0 else { return [] }
        return UnsafeBufferPointer(start: p, count: n).map { Int($0) }
    }
}
