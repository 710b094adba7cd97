#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "cpu/dispatch.h"

namespace fnn {

ProgramPlan plan_program(const Program& program, size_t max_batch, size_t threads,
                         const StepTiles& tiles) {
  const auto& tensors = program.tensors();
  const auto& steps = program.steps();
  const size_t nt = tensors.size(), ns = steps.size();
  std::vector<int64_t> first(nt, -1), last(nt, -1);
  auto root = [&](int t) { return tensors[t].alias_of >= 0 ? tensors[t].alias_of : t; };
  for (size_t i = 0; i < ns; ++i) {
    auto touch = [&](int t) {
      const int r = root(t);
      if (first[r] < 0) first[r] = static_cast<int64_t>(i);
      last[r] = static_cast<int64_t>(i);
    };
    for (int t : steps[i].in) touch(t);
    touch(steps[i].out);
  }
  if (threads == 0 || threads > kMaxSessionThreads) {
    throw std::invalid_argument("a session's threads must be 1.." + std::to_string(kMaxSessionThreads) +
                                ", got " + std::to_string(threads));
  }
  ProgramPlan pp;
  // Every tensor's bytes and their sum stay far below what the planner's arithmetic takes.
  constexpr size_t kMaxPlanBytes = size_t{1} << 60;
  size_t total = 0;
  std::vector<uint64_t> sizes;
  std::vector<int64_t> f, l;
  pp.tensor_entry.assign(nt, -1);
  for (size_t t = 0; t < nt; ++t) {
    if (tensors[t].external || tensors[t].alias_of >= 0 || first[t] < 0) continue;
    size_t bytes;
    if (__builtin_mul_overflow(tensors[t].sample_elems * tensors[t].elem_bytes(), max_batch, &bytes) ||
        __builtin_add_overflow(total, bytes + Pool::kAlignment, &total) || total > kMaxPlanBytes) {
      throw std::length_error("the plan at max_batch=" + std::to_string(max_batch) +
                              " needs more than 2^60 bytes");
    }
    pp.tensor_entry[t] = static_cast<int>(sizes.size());
    sizes.push_back(bytes);
    f.push_back(first[t]);
    l.push_back(last[t]);
  }
  pp.scratch_entry.assign(ns, -1);
  for (size_t i = 0; i < ns; ++i) {
    const size_t bytes = program.step_scratch_bytes(i, threads, tiles.at(i));
    if (bytes == 0) continue;
    if (__builtin_add_overflow(total, bytes + Pool::kAlignment, &total) || total > kMaxPlanBytes) {
      throw std::length_error("the plan with " + std::to_string(threads) +
                              " threads' scratch needs more than 2^60 bytes");
    }
    pp.scratch_entry[i] = static_cast<int>(sizes.size());
    sizes.push_back(bytes);
    f.push_back(static_cast<int64_t>(i));
    l.push_back(static_cast<int64_t>(i));
  }
  pp.plan = plan_memory(sizes, f, l, Pool::kAlignment);
  pp.first = std::move(f);
  pp.last = std::move(l);
  return pp;
}

size_t session_arena_bytes(const Program& program, size_t max_batch, size_t threads,
                           size_t concurrency, const StepTiles& tiles) {
  size_t arena;
  try {
    arena = plan_program(program, max_batch, threads, tiles).plan.arena_bytes;
  } catch (const std::length_error&) {
    return 0;
  }
  size_t total;
  return __builtin_mul_overflow(arena, concurrency, &total) ? 0 : total;
}

size_t largest_max_batch(const Program& program, size_t threads, size_t concurrency,
                         size_t budget, size_t limit, TilePolicy policy) {
  auto fits = [&](size_t b) {
    const StepTiles tiles = plan_tiles(program, b, threads, concurrency, budget, policy);
    const size_t bytes = session_arena_bytes(program, b, threads, concurrency, tiles);
    return bytes != 0 && bytes <= budget;
  };
  if (limit == 0 || !fits(1)) return 0;
  // Arena bytes grow with max_batch (every planned tensor scales with it; scratch does not).
  size_t lo = 1, hi = limit;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

StepTiles plan_tiles(const Program& program, size_t max_batch, size_t threads, size_t concurrency,
                     size_t budget, TilePolicy policy) {
  const size_t ns = program.steps().size();
  StepTiles tiles(ns, policy == TilePolicy::kCompact ? Tiles::kCompact : Tiles::kFast);
  if (policy != TilePolicy::kAuto) return tiles;
  size_t arena = session_arena_bytes(program, max_batch, threads, concurrency, tiles);
  if (max_batch != 1 && (budget == 0 || (arena != 0 && arena <= budget))) return tiles;
  for (size_t i = 0; i < ns; ++i) {
    if (program.step_scratch_bytes(i, threads, Tiles::kCompact) >=
        program.step_scratch_bytes(i, threads, Tiles::kFast)) {
      continue;  // no tiles, or compact ones no smaller
    }
    tiles[i] = Tiles::kCompact;
    const size_t smaller = session_arena_bytes(program, max_batch, threads, concurrency, tiles);
    if (smaller != 0 && (arena == 0 || smaller < arena)) {
      arena = smaller;
    } else {
      tiles[i] = Tiles::kFast;
    }
  }
  return tiles;
}

namespace {

std::string mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%zu bytes (%.2f MiB)", bytes, bytes / 1048576.0);
  return buf;
}

}  // namespace

Session::Session(std::shared_ptr<const Program> program, size_t max_batch, size_t threads,
                 std::shared_ptr<Pool> pool, size_t concurrency, size_t budget, TilePolicy tiles)
    : program_(std::move(program)), max_batch_(max_batch), threads_(std::max<size_t>(1, threads)),
      pool_(std::move(pool)) {
  if (max_batch_ == 0) throw std::invalid_argument("max_batch must be >= 1");
  if (concurrency == 0) throw std::invalid_argument("concurrency must be >= 1");
  if (!program_->frozen()) throw std::invalid_argument("the program is not finished (set_io)");
  const size_t nt = program_->tensors().size(), ns = program_->steps().size();
  ProgramPlan pp;
  try {
    tiles_ = plan_tiles(*program_, max_batch_, threads_, concurrency, budget, tiles);
    pp = plan_program(*program_, max_batch_, threads_, tiles_);
  } catch (const std::length_error& e) {
    throw PoolBudgetError(std::string("cannot allocate the session's arena: ") + e.what() +
                          "; a smaller max_batch needs less");
  }
  plan_ = std::move(pp.plan);
  tensor_entry_ = std::move(pp.tensor_entry);
  scratch_entry_ = std::move(pp.scratch_entry);
  entry_first_ = std::move(pp.first);
  entry_last_ = std::move(pp.last);
  arena_bytes_ = plan_.arena_bytes;
  size_t total;
  if (__builtin_mul_overflow(arena_bytes_, concurrency, &total)) {
    throw PoolBudgetError("the session's " + std::to_string(concurrency) + " arenas of " +
                          mib(arena_bytes_) + " overflow the address space");
  }
  if (budget != 0 && total > budget) {
    const size_t fit = largest_max_batch(*program_, threads_, concurrency, budget, max_batch_, tiles);
    const std::string arenas =
        concurrency == 1 ? std::string("one arena")
                         : std::to_string(concurrency) + " arenas of " + std::to_string(arena_bytes_) + " bytes";
    throw PoolBudgetError(
        "the plan needs " + mib(total) + " for " + arenas + " at max_batch=" +
        std::to_string(max_batch_) + ", over the budget of " + mib(budget) + "; " +
        (fit != 0 ? "max_batch=" + std::to_string(fit) + " fits (" +
                        mib(session_arena_bytes(*program_, fit, threads_, concurrency,
                                                 plan_tiles(*program_, fit, threads_, concurrency, budget, tiles))) + ")"
                  : "not even max_batch=1 fits (" +
                        mib(session_arena_bytes(*program_, 1, threads_, concurrency,
                                                 plan_tiles(*program_, 1, threads_, concurrency, budget, tiles))) + ")"));
  }
  contexts_.resize(concurrency);
  free_.reserve(concurrency);
  try {
    for (Context& c : contexts_) {
      if (arena_bytes_ > 0) c.arena = static_cast<char*>(pool_->allocate(arena_bytes_));
      c.ptr.assign(nt, nullptr);
      for (size_t t = 0; t < nt; ++t) {
        if (tensor_entry_[t] >= 0) c.ptr[t] = c.arena + plan_.offsets[tensor_entry_[t]];
      }
      c.scratch.assign(ns, nullptr);
      for (size_t i = 0; i < ns; ++i) {
        if (scratch_entry_[i] >= 0) c.scratch[i] = c.arena + plan_.offsets[scratch_entry_[i]];
      }
      free_.push_back(&c);
    }
  } catch (const PoolBudgetError&) {
    for (Context& c : contexts_) {
      if (c.arena != nullptr) pool_->deallocate(c.arena);
    }
    throw;
  } catch (const std::exception&) {  // std::bad_alloc from the OS, std::length_error
    for (Context& c : contexts_) {
      if (c.arena != nullptr) pool_->deallocate(c.arena);
    }
    throw PoolBudgetError("cannot allocate the session's arena: " + std::to_string(concurrency) +
                          " x " + mib(arena_bytes_) + " at max_batch=" +
                          std::to_string(max_batch_) + "; a smaller max_batch needs less");
  }
}

Session::~Session() {
  for (Context& c : contexts_) {
    if (c.arena != nullptr) pool_->deallocate(c.arena);
  }
}

Session::Context* Session::acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [&] { return !free_.empty(); });
  Context* c = free_.back();
  free_.pop_back();
  return c;
}

void Session::release(Context* c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(c);
  }
  freed_.notify_one();
}

// Holds a context for one run and gives it back however the run ends.
class Session::Lease {
 public:
  explicit Lease(Session& s) : s_(s), c_(s.acquire()) {}
  ~Lease() { s_.release(c_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Context& operator*() const { return *c_; }

 private:
  Session& s_;
  Context* c_;
};

namespace {

// No NaN or infinity among n floats: exponent bits not all ones (vectorizes; no branches).
bool all_finite(const float* x, size_t n) {
  const auto* u = reinterpret_cast<const uint32_t*>(x);
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad |= ((u[i] & 0x7F800000u) == 0x7F800000u);
  return bad == 0;
}

}  // namespace

void Session::run(const float* const* inputs, float* const* outputs, size_t batch,
                  double* step_seconds, bool check_finite) {
  const Program& p = *program_;
  if (check_finite) {
    for (size_t i = 0; i < p.inputs().size(); ++i) {
      if (p.tensors()[p.inputs()[i]].quantized()) continue;  // u8 / s8: always finite
      if (!all_finite(inputs[i], batch * p.tensors()[p.inputs()[i]].sample_elems)) {
        throw std::invalid_argument("input " + std::to_string(i) +
                                    " contains NaN or infinity (int8 layers would quantize it "
                                    "silently)");
      }
    }
  }
  // One dispatch for the whole run, whatever other threads switch meanwhile.
  DispatchPin pin(current_dispatch());
  Lease lease(*this);
  Context& c = *lease;
  for (size_t i = 0; i < p.inputs().size(); ++i) {
    c.ptr[p.inputs()[i]] = reinterpret_cast<char*>(const_cast<float*>(inputs[i]));
  }
  for (size_t i = 0; i < p.outputs().size(); ++i) c.ptr[p.outputs()[i]] = reinterpret_cast<char*>(outputs[i]);
  const auto& tensors = p.tensors();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].alias_of >= 0) c.ptr[t] = c.ptr[tensors[t].alias_of];
  }
  for (size_t i = 0; i < p.steps().size(); ++i) {
    if (step_seconds != nullptr) {
      const auto t0 = std::chrono::steady_clock::now();
      run_step(c, i, batch);
      step_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else {
      run_step(c, i, batch);
    }
  }
  runs_.fetch_add(1, std::memory_order_relaxed);
}

void Session::run_step(const Context& c, size_t i, size_t batch) const {
  const Step& s = program_->steps()[i];
  step_impl(s.kind).run(StepRun{*program_, s, batch, threads_, tiles_[i], c.ptr.data(), c.scratch[i]});
}

}  // namespace fnn
