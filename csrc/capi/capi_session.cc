// Sessions: planning one for a model, and runs on the caller's buffers, every argument checked
// before the runtime sees it (Session::run itself trusts its caller).
#include <array>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

#include "capi/capi_handles.h"

namespace fnn {
namespace {

const char kNullSession[] = "no session (NULL: creating could not allocate one, or none was given)";

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

// The sizes and alignment of one run's buffers, against the model's per-sample bytes.
void check_buffers(const char* what, const std::vector<std::string>& names,
                   const std::vector<size_t>& sample_bytes, const std::vector<bool>& is_float,
                   size_t count, const void* const* buffers, const size_t* bytes, size_t batch) {
  if (count != names.size()) {
    bad(std::string("got ") + std::to_string(count) + " " + what + "s, the model has " +
        std::to_string(names.size()));
  }
  if (count == 0) return;
  if (buffers == nullptr) bad(std::string(what) + "s is NULL");
  if (bytes == nullptr) bad(std::string(what) + "_bytes is NULL");
  for (size_t i = 0; i < count; ++i) {
    const std::string label = std::string(what) + " " + std::to_string(i) + " '" + names[i] + "'";
    if (buffers[i] == nullptr) bad(label + ": the buffer is NULL");
    const size_t expected = batch * sample_bytes[i];
    if (bytes[i] != expected) {
      bad(label + ": got " + std::to_string(bytes[i]) + " bytes, expected " + std::to_string(expected) +
          " (batch " + std::to_string(batch) + " x " + std::to_string(sample_bytes[i]) + " bytes per sample)");
    }
    if (is_float[i] && reinterpret_cast<uintptr_t>(buffers[i]) % alignof(float) != 0) {
      bad(label + ": a float32 buffer must be 4-byte aligned");
    }
  }
}

}  // namespace
}  // namespace fnn

extern "C" {

FRUGALNN_API frugalnn_status frugalnn_session_create(const frugalnn_model* model, size_t max_batch,
                                                    size_t num_threads, size_t memory_budget,
                                                    frugalnn_session** out) {
  if (out == nullptr) return FRUGALNN_INVALID_ARGUMENT;
  frugalnn_session* s = new (std::nothrow) frugalnn_session();
  *out = s;
  if (s == nullptr) return FRUGALNN_OUT_OF_MEMORY;
  return fnn::guarded(&s->error, [&] {
    if (model == nullptr) fnn::bad("model is NULL");
    if (model->program == nullptr) fnn::bad(std::string("the model did not load: ") + model->error.c_str());
    if (max_batch == 0) fnn::bad("max_batch must be at least 1, got 0");
    if (num_threads == 0 || num_threads > fnn::kMaxSessionThreads) {
      fnn::bad("num_threads must be 1.." + std::to_string(fnn::kMaxSessionThreads) + ", got " +
               std::to_string(num_threads));
    }
    for (size_t i = 0; i < model->num_inputs; ++i) {
      const frugalnn_tensor_info& t = model->inputs[i].info;
      s->names_in.push_back(model->inputs[i].name);
      s->input_sample_bytes.push_back(t.sample_bytes);
      s->input_is_float.push_back(t.dtype == FRUGALNN_FLOAT32);
    }
    for (size_t i = 0; i < model->num_outputs; ++i) {
      s->names_out.push_back(model->outputs[i].name);
      s->output_sample_bytes.push_back(model->outputs[i].info.sample_bytes);
      s->output_is_float.push_back(true);
    }
    s->check_finite = model->check_finite;
    s->session = std::make_unique<fnn::Session>(model->program, max_batch, num_threads, model->pool,
                                                /*concurrency=*/1, memory_budget);
    return FRUGALNN_OK;
  });
}

FRUGALNN_API frugalnn_status frugalnn_session_run(frugalnn_session* session, size_t batch,
                                                 size_t num_inputs, const void* const* inputs,
                                                 const size_t* input_bytes, size_t num_outputs,
                                                 void* const* outputs, const size_t* output_bytes) {
  if (session == nullptr) return FRUGALNN_INVALID_ARGUMENT;
  return fnn::guarded(&session->error, [&] {
    if (session->session == nullptr) fnn::bad("the session was not created: " + std::string(session->error.c_str()));
    fnn::Session& s = *session->session;
    if (batch == 0 || batch > s.max_batch()) {
      fnn::bad("batch must be 1.." + std::to_string(s.max_batch()) + " (the session's max_batch), got " +
               std::to_string(batch));
    }
    fnn::check_buffers("input", session->names_in, session->input_sample_bytes, session->input_is_float,
                       num_inputs, inputs, input_bytes, batch);
    fnn::check_buffers("output", session->names_out, session->output_sample_bytes, session->output_is_float,
                       num_outputs, const_cast<const void* const*>(outputs), output_bytes, batch);
    // The runtime takes float pointers for every buffer (u8 / s8 inputs are read as bytes).
    // Up to 16 of each on the stack: a run allocates nothing.
    constexpr size_t kFixed = 16;
    std::array<const float*, kFixed> in_fixed{};
    std::array<float*, kFixed> out_fixed{};
    std::vector<const float*> in_many;
    std::vector<float*> out_many;
    const float** in = in_fixed.data();
    float** out = out_fixed.data();
    if (num_inputs > kFixed) {
      in_many.resize(num_inputs);
      in = in_many.data();
    }
    if (num_outputs > kFixed) {
      out_many.resize(num_outputs);
      out = out_many.data();
    }
    for (size_t i = 0; i < num_inputs; ++i) in[i] = static_cast<const float*>(inputs[i]);
    for (size_t i = 0; i < num_outputs; ++i) out[i] = static_cast<float*>(outputs[i]);
    s.run(in, out, batch, /*step_seconds=*/nullptr, session->check_finite);
    return FRUGALNN_OK;
  });
}

FRUGALNN_API const char* frugalnn_session_error(const frugalnn_session* session) {
  return session == nullptr ? fnn::kNullSession : session->error.c_str();
}

FRUGALNN_API size_t frugalnn_session_max_batch(const frugalnn_session* session) {
  return session == nullptr || session->session == nullptr ? 0 : session->session->max_batch();
}

FRUGALNN_API size_t frugalnn_session_arena_bytes(const frugalnn_session* session) {
  if (session == nullptr || session->session == nullptr) return 0;
  return session->session->arena_bytes() * session->session->concurrency();
}

FRUGALNN_API void frugalnn_session_free(frugalnn_session* session) { delete session; }

}  // extern "C"
