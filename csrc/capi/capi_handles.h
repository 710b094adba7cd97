// What the C API's opaque handles hold, and the one place C++ exceptions become statuses:
// every exported function runs its body through guarded(), so nothing thrown inside the
// runtime (std::bad_alloc included) crosses into C.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "frugalnn.h"
#include "memory/pool.h"
#include "runtime/program.h"
#include "runtime/session.h"

namespace fnn {

// An object's last error, in a fixed buffer: storing a message allocates nothing (it cannot
// fail when memory is out), and the pointer c_str() returns stays valid while runs on other
// threads store theirs (a mutex orders the writers; the last byte is never written, so a
// reader racing a writer may see a mixed message but never reads past the end).
class ErrorSlot {
 public:
  static constexpr size_t kBytes = 1024;  // longer messages are cut
  void set(const char* message) noexcept;
  const char* c_str() const noexcept { return text_; }

 private:
  std::mutex mu_;
  char text_[kBytes] = {};
};

// The status of the exception being handled; its message goes to `error`. Call only inside a
// catch block.
frugalnn_status status_of_current_exception(ErrorSlot* error) noexcept;

// Runs fn() and turns whatever it throws into a status and a message in `error`.
template <typename Fn>
frugalnn_status guarded(ErrorSlot* error, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    return status_of_current_exception(error);
  }
}

// A status with its message: for the argument checks of the API functions.
inline frugalnn_status fail(ErrorSlot* error, frugalnn_status status, const char* message) noexcept {
  error->set(message);
  return status;
}

// An input or output as frugalnn_tensor_info reports it; the info's pointers point into the
// name and dims strings here, so entries never move once filled.
struct IoEntry {
  std::string name;
  std::vector<uint64_t> dims;
  frugalnn_tensor_info info{};
};

}  // namespace fnn

struct frugalnn_model {
  fnn::ErrorSlot error;
  // Serves the copy of a file read or given as bytes, and every session's arena.
  std::shared_ptr<fnn::Pool> pool;
  std::shared_ptr<const fnn::Program> program;  // null when loading failed
  std::unique_ptr<fnn::IoEntry[]> inputs, outputs;
  size_t num_inputs = 0, num_outputs = 0;
  // Int8 programs refuse NaN and infinite inputs, as the Python Session does: quantizing
  // them would give arbitrary codes.
  bool check_finite = false;
};

struct frugalnn_session {
  fnn::ErrorSlot error;
  std::unique_ptr<fnn::Session> session;  // null when planning failed
  // Copies of the model's: the model may be freed before its sessions.
  std::vector<std::string> names_in, names_out;
  std::vector<size_t> input_sample_bytes, output_sample_bytes;
  std::vector<bool> input_is_float, output_is_float;
  bool check_finite = false;
};
