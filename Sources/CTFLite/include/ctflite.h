// A small C API over a verified TFLite flatbuffer, for Swift (which cannot use the generated
// C++ tables directly). fercc_tflite_open runs the flatbuffers Verifier before anything is read;
// every index is range-checked. Pointers returned stay valid until fercc_tflite_close.
#ifndef FERCC_CTFLITE_H
#define FERCC_CTFLITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct FerccTFLiteModel FerccTFLiteModel;

typedef struct {
  int32_t builtin_code;     // the larger of the deprecated and the extended code
  int32_t version;
  const char *custom_code;  // NULL for builtin ops
} FerccTFLiteOpcode;

typedef struct {
  const char *name;
  int32_t type;  // tflite::TensorType
  uint32_t buffer;
  const int32_t *shape;
  size_t shape_count;
  const int32_t *shape_signature;
  size_t shape_signature_count;
  const float *scale;
  size_t scale_count;
  const int64_t *zero_point;
  size_t zero_point_count;
  int32_t quantized_dimension;
  int32_t has_custom_quantization;
  int32_t is_sparse;
  int32_t is_variable;
} FerccTFLiteTensor;

typedef struct {
  uint32_t opcode_index;
  const int32_t *inputs;
  size_t input_count;
  const int32_t *outputs;
  size_t output_count;
  int32_t options_type;  // tflite::BuiltinOptions value, 0 when absent or unknown to fercc
  int32_t has_custom_options;
  // Options, filled from whichever options table the operator has (defaults otherwise).
  int32_t padding;  // 0 SAME, 1 VALID
  int32_t stride_w, stride_h;
  int32_t dilation_w, dilation_h;
  int32_t filter_w, filter_h;
  int32_t depth_multiplier;
  int32_t fused_activation;
  int32_t weights_format;
  int32_t keep_num_dims;
  int32_t asymmetric_quantize_inputs;
  int32_t keep_dims;
  float beta;
  float alpha;
  int32_t axis;
  int32_t batch_dims;
  int32_t num;  // num_splits, values_count, num
  int32_t begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset;
  int32_t align_corners, half_pixel_centers;
  const int32_t *new_shape;
  size_t new_shape_count;
  int32_t has_new_shape;
  const int32_t *squeeze_dims;
  size_t squeeze_dims_count;
} FerccTFLiteOperator;

/// Verifies `size` bytes and opens them (the bytes are copied). On failure returns NULL with a
/// message in `error`.
FerccTFLiteModel *fercc_tflite_open(const uint8_t *data, size_t size, char *error, size_t error_size);
void fercc_tflite_close(FerccTFLiteModel *model);

uint32_t fercc_tflite_schema_version(const FerccTFLiteModel *model);
const char *fercc_tflite_description(const FerccTFLiteModel *model);
size_t fercc_tflite_subgraph_count(const FerccTFLiteModel *model);
size_t fercc_tflite_opcode_count(const FerccTFLiteModel *model);
size_t fercc_tflite_buffer_count(const FerccTFLiteModel *model);

/// Each returns 0 on success, -1 for an index out of range.
int fercc_tflite_opcode(const FerccTFLiteModel *model, size_t index, FerccTFLiteOpcode *out);
/// A buffer's bytes: inside the flatbuffer, or at offset/size past it (large models); -1 when
/// the offset/size lie outside the file.
int fercc_tflite_buffer(const FerccTFLiteModel *model, size_t index, const uint8_t **data, size_t *size);

size_t fercc_tflite_tensor_count(const FerccTFLiteModel *model, size_t subgraph);
int fercc_tflite_tensor(const FerccTFLiteModel *model, size_t subgraph, size_t index, FerccTFLiteTensor *out);
size_t fercc_tflite_operator_count(const FerccTFLiteModel *model, size_t subgraph);
int fercc_tflite_operator(const FerccTFLiteModel *model, size_t subgraph, size_t index, FerccTFLiteOperator *out);
/// Graph inputs (which = 0) or outputs (which = 1) of a subgraph.
const int32_t *fercc_tflite_subgraph_io(const FerccTFLiteModel *model, size_t subgraph, int which, size_t *count);
const char *fercc_tflite_subgraph_name(const FerccTFLiteModel *model, size_t subgraph);

#ifdef __cplusplus
}
#endif

#endif
