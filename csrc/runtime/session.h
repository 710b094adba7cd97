// A Session runs a Program on one arena: every planned tensor and every step's scratch is a
// slice of one pool block whose offsets come from the static memory plan, made once for
// max_batch. Any batch up to max_batch reuses the same offsets, so a steady-state run
// allocates nothing: the arena is already there, and the kernels' own scratch (re-strided
// GEMM rows, transposed SpMM activations) is served from the scratch pool's free blocks.
//
// One session per thread: run() is not re-entrant. Sessions of one program share its
// packed weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory/planner.h"
#include "memory/pool.h"
#include "runtime/program.h"

namespace fnn {

// The static memory plan of a program at max_batch: every planned tensor and every step's
// scratch as an entry of one MemoryPlan (entry -1: external, alias, unused or no scratch).
struct ProgramPlan {
  MemoryPlan plan;
  std::vector<int> tensor_entry, scratch_entry;
};
ProgramPlan plan_program(const Program& program, size_t max_batch, size_t threads);

class Session {
 public:
  Session(std::shared_ptr<const Program> program, size_t max_batch, size_t threads,
          std::shared_ptr<Pool> pool);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // inputs[i] / outputs[i]: the buffers of program().inputs()[i] / outputs()[i], batch x
  // sample_elems floats each. 1 <= batch <= max_batch (checked by the caller).
  void run(const float* const* inputs, float* const* outputs, size_t batch);

  const Program& program() const { return *program_; }
  size_t max_batch() const { return max_batch_; }
  size_t threads() const { return threads_; }
  const MemoryPlan& plan() const { return plan_; }
  // Plan entry of each tensor (-1: external or alias) and of each step's scratch (-1: none).
  const std::vector<int>& tensor_entry() const { return tensor_entry_; }
  const std::vector<int>& scratch_entry() const { return scratch_entry_; }
  size_t arena_bytes() const { return arena_bytes_; }

  // Per-step wall time of the last run, in seconds, when profiling is on.
  void set_profiling(bool on) { profiling_ = on; }
  const std::vector<double>& step_seconds() const { return step_seconds_; }
  uint64_t runs() const { return runs_; }

 private:
  void run_step(size_t i, size_t batch);

  std::shared_ptr<const Program> program_;
  size_t max_batch_, threads_;
  std::shared_ptr<Pool> pool_;
  MemoryPlan plan_;
  std::vector<int> tensor_entry_, scratch_entry_;
  size_t arena_bytes_ = 0;
  char* arena_ = nullptr;
  std::vector<char*> ptr_;       // per tensor, resolved each run (no allocation)
  std::vector<char*> scratch_;   // per step
  std::vector<double> step_seconds_;
  bool profiling_ = false;
  uint64_t runs_ = 0;
};

}  // namespace fnn
