// The C API of ctflite.h over the flatc-generated tables of schemas/tflite.fbs.
#include "ctflite.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "tflite_generated.h"

struct FerccTFLiteModel {
  std::vector<uint8_t> bytes;
  const tflite::Model *model;
};

namespace {

template <typename T>
const T *data_or_null(const flatbuffers::Vector<T> *v, size_t *count) {
  *count = v ? v->size() : 0;
  return v && v->size() ? v->data() : nullptr;
}

const tflite::SubGraph *subgraph_at(const FerccTFLiteModel *m, size_t i) {
  auto subgraphs = m->model->subgraphs();
  if (!subgraphs || i >= subgraphs->size()) return nullptr;
  return subgraphs->Get(static_cast<flatbuffers::uoffset_t>(i));
}

void set_error(char *error, size_t error_size, const char *message) {
  if (error && error_size) std::snprintf(error, error_size, "%s", message);
}

}  // namespace

extern "C" {

FerccTFLiteModel *fercc_tflite_open(const uint8_t *data, size_t size, char *error, size_t error_size) {
  if (!data || size < 8) {
    set_error(error, error_size, "too small to be a TFLite flatbuffer");
    return nullptr;
  }
  if (size >= (size_t(1) << 31)) {
    set_error(error, error_size, "larger than 2 GB, which flatbuffers cannot address");
    return nullptr;
  }
  auto *m = new (std::nothrow) FerccTFLiteModel();
  if (!m) {
    set_error(error, error_size, "out of memory");
    return nullptr;
  }
  m->bytes.assign(data, data + size);
  if (!flatbuffers::BufferHasIdentifier(m->bytes.data(), tflite::ModelIdentifier())) {
    set_error(error, error_size, "not a TFLite model (no TFL3 file identifier)");
    delete m;
    return nullptr;
  }
  flatbuffers::Verifier verifier(m->bytes.data(), m->bytes.size());
  if (!tflite::VerifyModelBuffer(verifier)) {
    set_error(error, error_size, "the flatbuffer fails verification (corrupt or truncated file)");
    delete m;
    return nullptr;
  }
  m->model = tflite::GetModel(m->bytes.data());
  return m;
}

void fercc_tflite_close(FerccTFLiteModel *model) { delete model; }

uint32_t fercc_tflite_schema_version(const FerccTFLiteModel *m) { return m->model->version(); }

const char *fercc_tflite_description(const FerccTFLiteModel *m) {
  return m->model->description() ? m->model->description()->c_str() : "";
}

size_t fercc_tflite_subgraph_count(const FerccTFLiteModel *m) {
  return m->model->subgraphs() ? m->model->subgraphs()->size() : 0;
}

size_t fercc_tflite_opcode_count(const FerccTFLiteModel *m) {
  return m->model->operator_codes() ? m->model->operator_codes()->size() : 0;
}

size_t fercc_tflite_buffer_count(const FerccTFLiteModel *m) {
  return m->model->buffers() ? m->model->buffers()->size() : 0;
}

int fercc_tflite_opcode(const FerccTFLiteModel *m, size_t index, FerccTFLiteOpcode *out) {
  auto codes = m->model->operator_codes();
  if (!codes || index >= codes->size()) return -1;
  auto c = codes->Get(static_cast<flatbuffers::uoffset_t>(index));
  int32_t deprecated = c->deprecated_builtin_code();
  int32_t extended = static_cast<int32_t>(c->builtin_code());
  out->builtin_code = deprecated > extended ? deprecated : extended;
  out->version = c->version();
  out->custom_code = c->custom_code() ? c->custom_code()->c_str() : nullptr;
  return 0;
}

int fercc_tflite_buffer(const FerccTFLiteModel *m, size_t index, const uint8_t **data, size_t *size) {
  auto buffers = m->model->buffers();
  *data = nullptr;
  *size = 0;
  if (!buffers || index >= buffers->size()) return -1;
  auto b = buffers->Get(static_cast<flatbuffers::uoffset_t>(index));
  if (b->offset() > 1) {
    uint64_t offset = b->offset(), length = b->size();
    if (offset > m->bytes.size() || length > m->bytes.size() - offset) return -1;
    *data = m->bytes.data() + offset;
    *size = static_cast<size_t>(length);
    return 0;
  }
  if (b->data()) {
    *data = b->data()->data();
    *size = b->data()->size();
  }
  return 0;
}

size_t fercc_tflite_tensor_count(const FerccTFLiteModel *m, size_t subgraph) {
  auto sg = subgraph_at(m, subgraph);
  return sg && sg->tensors() ? sg->tensors()->size() : 0;
}

int fercc_tflite_tensor(const FerccTFLiteModel *m, size_t subgraph, size_t index, FerccTFLiteTensor *out) {
  auto sg = subgraph_at(m, subgraph);
  if (!sg || !sg->tensors() || index >= sg->tensors()->size()) return -1;
  auto t = sg->tensors()->Get(static_cast<flatbuffers::uoffset_t>(index));
  std::memset(out, 0, sizeof(*out));
  out->name = t->name() ? t->name()->c_str() : "";
  out->type = static_cast<int32_t>(t->type());
  out->buffer = t->buffer();
  out->shape = data_or_null(t->shape(), &out->shape_count);
  out->shape_signature = data_or_null(t->shape_signature(), &out->shape_signature_count);
  if (auto q = t->quantization()) {
    out->scale = data_or_null(q->scale(), &out->scale_count);
    out->zero_point = data_or_null(q->zero_point(), &out->zero_point_count);
    out->quantized_dimension = q->quantized_dimension();
    out->has_custom_quantization = q->details_type() != tflite::QuantizationDetails_NONE;
  }
  out->is_sparse = t->sparsity() != nullptr;
  out->is_variable = t->is_variable();
  return 0;
}

size_t fercc_tflite_operator_count(const FerccTFLiteModel *m, size_t subgraph) {
  auto sg = subgraph_at(m, subgraph);
  return sg && sg->operators() ? sg->operators()->size() : 0;
}

int fercc_tflite_operator(const FerccTFLiteModel *m, size_t subgraph, size_t index, FerccTFLiteOperator *out) {
  auto sg = subgraph_at(m, subgraph);
  if (!sg || !sg->operators() || index >= sg->operators()->size()) return -1;
  auto op = sg->operators()->Get(static_cast<flatbuffers::uoffset_t>(index));
  std::memset(out, 0, sizeof(*out));
  out->opcode_index = op->opcode_index();
  out->inputs = data_or_null(op->inputs(), &out->input_count);
  out->outputs = data_or_null(op->outputs(), &out->output_count);
  out->has_custom_options = op->custom_options() != nullptr && op->custom_options()->size() > 0;
  out->stride_w = out->stride_h = 1;
  out->dilation_w = out->dilation_h = 1;
  out->depth_multiplier = 1;
  out->beta = 1.0f;
  out->alpha = 0.2f;
  out->options_type = static_cast<int32_t>(op->builtin_options_type());
  // A union type whose table is absent passes the Verifier: the defaults above stand, as in LiteRT.
  if (op->builtin_options() == nullptr) return 0;
  using namespace tflite;
  switch (op->builtin_options_type()) {
    case BuiltinOptions_Conv2DOptions: {
      auto o = op->builtin_options_as_Conv2DOptions();
      out->padding = o->padding();
      out->stride_w = o->stride_w(); out->stride_h = o->stride_h();
      out->dilation_w = o->dilation_w_factor(); out->dilation_h = o->dilation_h_factor();
      out->fused_activation = o->fused_activation_function();
      break;
    }
    case BuiltinOptions_DepthwiseConv2DOptions: {
      auto o = op->builtin_options_as_DepthwiseConv2DOptions();
      out->padding = o->padding();
      out->stride_w = o->stride_w(); out->stride_h = o->stride_h();
      out->dilation_w = o->dilation_w_factor(); out->dilation_h = o->dilation_h_factor();
      out->depth_multiplier = o->depth_multiplier();
      out->fused_activation = o->fused_activation_function();
      break;
    }
    case BuiltinOptions_Pool2DOptions: {
      auto o = op->builtin_options_as_Pool2DOptions();
      out->padding = o->padding();
      out->stride_w = o->stride_w(); out->stride_h = o->stride_h();
      out->filter_w = o->filter_width(); out->filter_h = o->filter_height();
      out->fused_activation = o->fused_activation_function();
      break;
    }
    case BuiltinOptions_FullyConnectedOptions: {
      auto o = op->builtin_options_as_FullyConnectedOptions();
      out->fused_activation = o->fused_activation_function();
      out->weights_format = o->weights_format();
      out->keep_num_dims = o->keep_num_dims();
      out->asymmetric_quantize_inputs = o->asymmetric_quantize_inputs();
      break;
    }
    case BuiltinOptions_SoftmaxOptions: out->beta = op->builtin_options_as_SoftmaxOptions()->beta(); break;
    case BuiltinOptions_ConcatenationOptions: {
      auto o = op->builtin_options_as_ConcatenationOptions();
      out->axis = o->axis();
      out->fused_activation = o->fused_activation_function();
      break;
    }
    case BuiltinOptions_AddOptions: out->fused_activation = op->builtin_options_as_AddOptions()->fused_activation_function(); break;
    case BuiltinOptions_SubOptions: out->fused_activation = op->builtin_options_as_SubOptions()->fused_activation_function(); break;
    case BuiltinOptions_MulOptions: out->fused_activation = op->builtin_options_as_MulOptions()->fused_activation_function(); break;
    case BuiltinOptions_DivOptions: out->fused_activation = op->builtin_options_as_DivOptions()->fused_activation_function(); break;
    case BuiltinOptions_ResizeBilinearOptions: {
      auto o = op->builtin_options_as_ResizeBilinearOptions();
      out->align_corners = o->align_corners();
      out->half_pixel_centers = o->half_pixel_centers();
      break;
    }
    case BuiltinOptions_ResizeNearestNeighborOptions: {
      auto o = op->builtin_options_as_ResizeNearestNeighborOptions();
      out->align_corners = o->align_corners();
      out->half_pixel_centers = o->half_pixel_centers();
      break;
    }
    case BuiltinOptions_ReshapeOptions: {
      auto o = op->builtin_options_as_ReshapeOptions();
      out->has_new_shape = o->new_shape() != nullptr;
      out->new_shape = data_or_null(o->new_shape(), &out->new_shape_count);
      break;
    }
    case BuiltinOptions_GatherOptions: {
      auto o = op->builtin_options_as_GatherOptions();
      out->axis = o->axis();
      out->batch_dims = o->batch_dims();
      break;
    }
    case BuiltinOptions_ReducerOptions: out->keep_dims = op->builtin_options_as_ReducerOptions()->keep_dims(); break;
    case BuiltinOptions_SqueezeOptions:
      out->squeeze_dims = data_or_null(op->builtin_options_as_SqueezeOptions()->squeeze_dims(), &out->squeeze_dims_count);
      break;
    case BuiltinOptions_StridedSliceOptions: {
      auto o = op->builtin_options_as_StridedSliceOptions();
      out->begin_mask = o->begin_mask(); out->end_mask = o->end_mask();
      out->ellipsis_mask = o->ellipsis_mask(); out->new_axis_mask = o->new_axis_mask();
      out->shrink_axis_mask = o->shrink_axis_mask(); out->offset = o->offset();
      break;
    }
    case BuiltinOptions_SplitOptions: out->num = op->builtin_options_as_SplitOptions()->num_splits(); break;
    case BuiltinOptions_SplitVOptions: out->num = op->builtin_options_as_SplitVOptions()->num_splits(); break;
    case BuiltinOptions_PackOptions: {
      auto o = op->builtin_options_as_PackOptions();
      out->num = o->values_count();
      out->axis = o->axis();
      break;
    }
    case BuiltinOptions_UnpackOptions: {
      auto o = op->builtin_options_as_UnpackOptions();
      out->num = o->num();
      out->axis = o->axis();
      break;
    }
    case BuiltinOptions_LeakyReluOptions: out->alpha = op->builtin_options_as_LeakyReluOptions()->alpha(); break;
    default:
      break;
  }
  return 0;
}

const int32_t *fercc_tflite_subgraph_io(const FerccTFLiteModel *m, size_t subgraph, int which, size_t *count) {
  *count = 0;
  auto sg = subgraph_at(m, subgraph);
  if (!sg) return nullptr;
  return data_or_null(which == 0 ? sg->inputs() : sg->outputs(), count);
}

const char *fercc_tflite_subgraph_name(const FerccTFLiteModel *m, size_t subgraph) {
  auto sg = subgraph_at(m, subgraph);
  return sg && sg->name() ? sg->name()->c_str() : "";
}

}  // extern "C"
