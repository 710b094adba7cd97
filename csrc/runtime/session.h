// A Session runs a Program on planned arenas: every planned tensor and every step's scratch is
// a slice of one pool block whose offsets come from the static memory plan, made once for
// max_batch. Any batch up to max_batch reuses the same offsets, so a steady-state run
// allocates nothing: the arenas are already there, and the kernels' own scratch (re-strided
// GEMM rows, transposed SpMM activations) is served from the scratch pool's free blocks.
//
// Threads: run() may be called from any number of threads at once. The session owns
// `concurrency` arenas (one plan, N blocks); a run takes a free one for its duration and a
// run that finds none waits for one (callers release the GIL first). concurrency = 1
// serializes runs. A run keeps the kernel dispatch it started with (cpu/dispatch.h) and
// splits its work by the session's thread count, so its result does not depend on what other
// threads do meanwhile. Sessions of one program share its packed weights; the program is
// frozen, so sharing it is safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
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
  std::vector<int64_t> first, last;  // per entry: the steps it lives through, inclusive
};
// Threads one run may split its work over (each conv step plans a scratch slot per thread).
constexpr size_t kMaxSessionThreads = 1024;
// Throws std::invalid_argument for a thread count outside 1..kMaxSessionThreads and
// std::length_error when the plan's bytes would pass 2^60.
ProgramPlan plan_program(const Program& program, size_t max_batch, size_t threads,
                         const StepTiles& tiles);

// How a session picks each step's tiles. kAuto: compact tiles for the steps where they make
// the arena smaller, at max_batch 1 (where per-thread tiles are most of an arena and the
// GEMMs are short anyway) and at any max_batch whose fast plan passes the budget; fast ones
// everywhere else.
enum class TilePolicy : uint8_t { kAuto, kFast, kCompact };
// Steps are tried in order, each kept compact only if the arena shrinks.
StepTiles plan_tiles(const Program& program, size_t max_batch, size_t threads, size_t concurrency,
                     size_t budget, TilePolicy policy);

// The arena bytes of `concurrency` arenas at max_batch, or 0 when the sizes overflow.
size_t session_arena_bytes(const Program& program, size_t max_batch, size_t threads,
                           size_t concurrency, const StepTiles& tiles);
// The largest max_batch (up to `limit`) whose `concurrency` arenas, with the tiles `policy`
// picks for it, fit in `budget` bytes, or 0 when not even max_batch 1 fits.
size_t largest_max_batch(const Program& program, size_t threads, size_t concurrency,
                         size_t budget, size_t limit, TilePolicy policy);

class Session {
 public:
  // budget: the most bytes the arenas may take together (0: no limit); a larger plan throws
  // PoolBudgetError naming the largest max_batch that fits. An arena the pool cannot allocate
  // throws PoolBudgetError naming the bytes it needed.
  Session(std::shared_ptr<const Program> program, size_t max_batch, size_t threads,
          std::shared_ptr<Pool> pool, size_t concurrency = 1, size_t budget = 0,
          TilePolicy tiles = TilePolicy::kAuto);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // inputs[i] / outputs[i]: the buffers of program().inputs()[i] / outputs()[i], batch x
  // sample_elems floats each. 1 <= batch <= max_batch (checked by the caller). With
  // step_seconds (program().steps().size() values), each step's wall time is written there.
  // check_finite: refuse (std::invalid_argument) inputs holding NaN or infinity.
  void run(const float* const* inputs, float* const* outputs, size_t batch,
           double* step_seconds = nullptr, bool check_finite = false);

  const Program& program() const { return *program_; }
  size_t max_batch() const { return max_batch_; }
  size_t threads() const { return threads_; }
  // Per step: the tiles its scratch is planned for.
  const StepTiles& tiles() const { return tiles_; }
  size_t concurrency() const { return contexts_.size(); }
  const MemoryPlan& plan() const { return plan_; }
  // Plan entry of each tensor (-1: external or alias) and of each step's scratch (-1: none).
  const std::vector<int>& tensor_entry() const { return tensor_entry_; }
  const std::vector<int64_t>& entry_first() const { return entry_first_; }
  const std::vector<int64_t>& entry_last() const { return entry_last_; }
  const std::vector<int>& scratch_entry() const { return scratch_entry_; }
  // Bytes of one arena; the session holds concurrency() of them.
  size_t arena_bytes() const { return arena_bytes_; }
  uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }

 private:
  // What one run in flight owns: an arena and the tensor addresses resolved into it.
  struct Context {
    char* arena = nullptr;
    std::vector<char*> ptr;      // per tensor (inputs / outputs bound per run)
    std::vector<char*> scratch;  // per step
  };
  class Lease;

  Context* acquire();
  void release(Context* c);
  void run_step(const Context& c, size_t i, size_t batch) const;

  std::shared_ptr<const Program> program_;
  size_t max_batch_, threads_;
  StepTiles tiles_;
  std::shared_ptr<Pool> pool_;
  MemoryPlan plan_;
  std::vector<int> tensor_entry_, scratch_entry_;
  std::vector<int64_t> entry_first_, entry_last_;
  size_t arena_bytes_ = 0;
  std::vector<Context> contexts_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Context*> free_;  // capacity reserved for every context: push / pop never allocate
  std::atomic<uint64_t> runs_{0};
};

}  // namespace fnn
