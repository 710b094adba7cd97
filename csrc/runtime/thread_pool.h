// The library's own persistent thread pool (no OpenMP: no runtime clash with numpy or torch).
//
// parallel_for(n, fn) runs fn(task) for task in [0, n) on the calling thread plus the pool's
// workers; tasks are taken from an atomic counter, so uneven tasks balance themselves. The
// caller always takes part, so a pool of one thread is just a loop. If another thread is
// already using the pool, the call runs serially on its own thread instead of waiting.
// Nothing is allocated per call: the task function travels as a pointer plus a context.
// Workers run a job's tasks with the submitting thread's kernel dispatch (cpu/dispatch.h),
// so a pinned ISA level holds for every task of the call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace fnn {

class ThreadPool {
 public:
  explicit ThreadPool(size_t num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t num_threads() const { return workers_.size() + 1; }

  template <typename Fn>
  void parallel_for(size_t n, Fn&& fn) {
    run(n, [](void* ctx, size_t task) { (*static_cast<Fn*>(ctx))(task); }, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, size_t task);
  void run(size_t n, TaskFn fn, void* ctx);
  void worker_loop();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one parallel_for at a time
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The job's state, one word: its generation (high 32 bits), whether it is closed (kClosed)
  // and how many workers joined it and have not finished (low bits). A worker joins an open
  // job by CAS and leaves it when the tasks run out; the caller, once it finds no task left,
  // closes the job and waits only for the workers that joined. A worker that did not get to
  // run in time (its core busy with another process) is not waited for: its tasks went to the
  // caller, and it skips the closed job when it wakes. Workers spin on the generation for a
  // while after each job before sleeping on wake_, so back-to-back calls (layer after layer)
  // skip the futex round trip.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kJoined = kClosed - 1;
  std::atomic<uint64_t> job_{0};
  std::atomic<size_t> sleeping_{0};
  bool stop_ = false;
  // The job being run: written by the caller before it opens the job, read by joined workers.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  size_t n_ = 0;
  int dispatch_ = 0;  // the submitter's Dispatch code
  std::atomic<size_t> next_{0};
};

// Whether the calling thread is running a parallel_for task. Kernels called from inside one
// (a convolution's tiles call the GEMM) then run serially on their thread without touching
// the global pool: nested parallelism gains nothing, and the pool lookup's lock would be
// contended by every tile.
bool in_parallel_task();

// The process-wide pool kernels use, created on first use with default_num_threads(). Hold
// the returned pointer for the duration of a call: set_num_threads() may replace the pool.
std::shared_ptr<ThreadPool> global_thread_pool();
// Replaces the global pool (joins the old workers). n >= 1.
void set_num_threads(size_t n);
size_t get_num_threads();
// Hardware threads available to the process (at least 1).
size_t default_num_threads();

}  // namespace fnn
