// Models: loading a .fnn file (mapped, read, or from the caller's bytes) and describing its
// inputs and outputs.
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "capi/capi_handles.h"
#include "io/fnn.h"

namespace fnn {
namespace {

const char kNullModel[] = "no model (NULL: loading could not allocate one, or none was given)";

std::unique_ptr<IoEntry[]> io_entries(const Program& p, const std::vector<FnnIoSpec>& specs,
                                      const std::vector<int>& tensors) {
  std::unique_ptr<IoEntry[]> out(new IoEntry[specs.size()]);
  for (size_t i = 0; i < specs.size(); ++i) {
    IoEntry& e = out[i];
    const TensorInfo& t = p.tensors()[tensors[i]];
    e.name = specs[i].name;
    e.dims = specs[i].dims;
    e.info.name = e.name.c_str();
    e.info.dtype = t.dtype == DType::kU8 ? FRUGALNN_UINT8 : t.dtype == DType::kS8 ? FRUGALNN_INT8 : FRUGALNN_FLOAT32;
    e.info.rank = e.dims.size();
    e.info.dims = e.dims.data();
    e.info.sample_elems = t.sample_elems;
    e.info.sample_bytes = t.sample_elems * t.elem_bytes();
    e.info.scale = t.quantized() ? t.scale : 1.f;
    e.info.zero_point = t.quantized() ? t.zero_point : 0;
  }
  return out;
}

// Allocates the handle (the only failure without one), then loads into it.
template <typename Load>
frugalnn_status load_model(frugalnn_model** out, Load&& load) noexcept {
  if (out == nullptr) return FRUGALNN_INVALID_ARGUMENT;
  frugalnn_model* m = new (std::nothrow) frugalnn_model();
  *out = m;
  if (m == nullptr) return FRUGALNN_OUT_OF_MEMORY;
  return guarded(&m->error, [&] {
    m->pool = std::make_shared<Pool>();
    FnnFileInfo info;
    std::shared_ptr<Program> program = load(m, &info);
    m->inputs = io_entries(*program, info.meta.inputs, program->inputs());
    m->outputs = io_entries(*program, info.meta.outputs, program->outputs());
    m->num_inputs = info.meta.inputs.size();
    m->num_outputs = info.meta.outputs.size();
    m->check_finite = !info.meta.quant.empty();
    m->program = std::move(program);
    return FRUGALNN_OK;
  });
}

frugalnn_status io_info(const frugalnn_model* m, size_t index, frugalnn_tensor_info* info, bool input) {
  if (m == nullptr || info == nullptr || m->program == nullptr) return FRUGALNN_INVALID_ARGUMENT;
  if (index >= (input ? m->num_inputs : m->num_outputs)) return FRUGALNN_INVALID_ARGUMENT;
  *info = (input ? m->inputs : m->outputs)[index].info;
  return FRUGALNN_OK;
}

}  // namespace
}  // namespace fnn

using fnn::FnnFileInfo;

extern "C" {

FRUGALNN_API frugalnn_status frugalnn_model_load_file(const char* path, unsigned flags,
                                                     frugalnn_model** out) {
  return fnn::load_model(out, [&](frugalnn_model* m, FnnFileInfo* info) {
    if (path == nullptr) throw std::invalid_argument("path is NULL");
    if ((flags & ~FRUGALNN_LOAD_COPY) != 0) {
      throw std::invalid_argument("unknown flags " + std::to_string(flags) +
                                  " (FRUGALNN_LOAD_COPY is the only one)");
    }
    return fnn::read_fnn(path, (flags & FRUGALNN_LOAD_COPY) == 0, m->pool, info);
  });
}

FRUGALNN_API frugalnn_status frugalnn_model_load_buffer(const void* data, size_t size,
                                                       frugalnn_model** out) {
  return fnn::load_model(out, [&](frugalnn_model* m, FnnFileInfo* info) -> std::shared_ptr<fnn::Program> {
    if (data == nullptr) throw std::invalid_argument("data is NULL");
    return fnn::read_fnn_bytes(data, size, "<buffer>", m->pool, info);
  });
}

FRUGALNN_API const char* frugalnn_model_error(const frugalnn_model* model) {
  return model == nullptr ? fnn::kNullModel : model->error.c_str();
}

FRUGALNN_API size_t frugalnn_model_input_count(const frugalnn_model* model) {
  return model == nullptr || model->program == nullptr ? 0 : model->num_inputs;
}

FRUGALNN_API size_t frugalnn_model_output_count(const frugalnn_model* model) {
  return model == nullptr || model->program == nullptr ? 0 : model->num_outputs;
}

FRUGALNN_API frugalnn_status frugalnn_model_input(const frugalnn_model* model, size_t index,
                                                 frugalnn_tensor_info* info) {
  return fnn::io_info(model, index, info, true);
}

FRUGALNN_API frugalnn_status frugalnn_model_output(const frugalnn_model* model, size_t index,
                                                  frugalnn_tensor_info* info) {
  return fnn::io_info(model, index, info, false);
}

FRUGALNN_API size_t frugalnn_model_weight_bytes(const frugalnn_model* model) {
  return model == nullptr || model->program == nullptr ? 0 : model->program->weight_bytes();
}

FRUGALNN_API void frugalnn_model_free(frugalnn_model* model) { delete model; }

}  // extern "C"
