#include "runtime/thread_pool.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "cpu/dispatch.h"

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace fnn {
namespace {

// About 50-100 us of spinning: longer than a layer's gap, far shorter than a scheduler tick.
constexpr int kSpinIterations = 20000;

void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  // ISB stalls for a pipeline refill, tens of cycles, as PAUSE does on x86 (YIELD is a NOP on
  // most cores): the spin stays a spin, not 20000 sched_yield system calls.
  __asm__ __volatile__("isb sy" ::: "memory");
#else
  std::this_thread::yield();
#endif
}

}  // namespace

ThreadPool::ThreadPool(size_t num_threads) {
  if (num_threads == 0) throw std::invalid_argument("a thread pool needs at least one thread");
  for (size_t i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
thread_local bool t_in_task = false;
}  // namespace

bool in_parallel_task() { return t_in_task; }

void ThreadPool::drain() {
  const bool outer = t_in_task;
  t_in_task = true;
  for (;;) {
    const size_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_) break;
    fn_(ctx_, task);
  }
  t_in_task = outer;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;  // the generation of the last job this worker looked at
  auto generation = [this] { return job_.load(std::memory_order_acquire) >> 32; };
  for (;;) {
    bool found = false;
    for (int spin = 0; spin < kSpinIterations; ++spin) {
      if (generation() != seen) {
        found = true;
        break;
      }
      cpu_relax();
    }
    if (!found) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1, std::memory_order_relaxed);
      wake_.wait(lock, [&] { return stop_ || generation() != seen; });
      sleeping_.fetch_sub(1, std::memory_order_relaxed);
      if (stop_) return;
    }
    // Join the current job unless the caller closed it meanwhile.
    uint64_t v = job_.load(std::memory_order_acquire);
    seen = v >> 32;
    bool joined = false;
    while (!joined && (v & kClosed) == 0 && (v >> 32) == seen) {
      joined = job_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire);
    }
    if (!joined) continue;
    {
      DispatchPin pin(Dispatch::from_code(dispatch_));
      drain();
    }
    const uint64_t before = job_.fetch_sub(1, std::memory_order_acq_rel);
    if ((before & kClosed) != 0 && (before & kJoined) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void ThreadPool::run(size_t n, TaskFn fn, void* ctx) {
  if (n == 0) return;
  std::unique_lock<std::mutex> submit(submit_mu_, std::try_to_lock);
  if (workers_.empty() || n == 1 || !submit.owns_lock()) {
    const bool outer = t_in_task;
    t_in_task = true;
    for (size_t i = 0; i < n; ++i) fn(ctx, i);
    t_in_task = outer;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    dispatch_ = current_dispatch().code();
    next_.store(0, std::memory_order_relaxed);
    // The previous job is closed with no worker left in it: a new generation, open, empty.
    const uint64_t generation = (job_.load(std::memory_order_relaxed) >> 32) + 1;
    job_.store(generation << 32, std::memory_order_release);
  }
  if (sleeping_.load(std::memory_order_relaxed) > 0) wake_.notify_all();
  drain();
  // No task is left: close the job to late workers, then wait for the ones running a task.
  auto running = [this] { return (job_.load(std::memory_order_acquire) & kJoined) != 0; };
  job_.fetch_or(kClosed, std::memory_order_acq_rel);
  for (int spin = 0; spin < kSpinIterations; ++spin) {
    if (!running()) return;
    cpu_relax();
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return !running(); });
}

namespace {

std::mutex g_pool_mu;
std::shared_ptr<ThreadPool>& global_slot() {
  static std::shared_ptr<ThreadPool> pool;
  return pool;
}

}  // namespace

namespace {

// A positive thread count from the environment, or 0 when the variable is unset or not one.
size_t threads_from_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (errno != 0 || *end != '\0' || n == 0 || n > 4096 || v[0] == '-') return 0;
  return static_cast<size_t>(n);
}

}  // namespace

size_t default_num_threads() {
  // FRUGALNN_NUM_THREADS, else OMP_NUM_THREADS: process launchers that run one process per
  // core (Dask's workers, batch schedulers, MPI) set the latter so that no library
  // oversubscribes the cores; a pool of every CPU in each such process spins against the others.
  for (const char* name : {"FRUGALNN_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const size_t n = threads_from_env(name)) return n;
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::shared_ptr<ThreadPool> global_thread_pool() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  auto& slot = global_slot();
  if (!slot) slot = std::make_shared<ThreadPool>(default_num_threads());
  return slot;
}

void set_num_threads(size_t n) {
  if (n == 0) throw std::invalid_argument("num_threads must be >= 1");
  std::lock_guard<std::mutex> lock(g_pool_mu);
  auto& slot = global_slot();
  if (slot && slot->num_threads() == n) return;
  slot = std::make_shared<ThreadPool>(n);  // the old pool joins when its last user is done
}

size_t get_num_threads() { return global_thread_pool()->num_threads(); }

}  // namespace fnn
