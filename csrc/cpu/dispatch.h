// The active ISA level. Every kernel family keeps one config per level, built once; the
// family's accessor returns the config of the active level, so switching is one store.
//
// The active dispatch (level + feature kernels) is the calling thread's pin if it has one,
// else the process default. set_active_isa / set_feature_kernels change the default; a
// DispatchPin (Python's use_isa, and every Session run) pins one thread, and the thread
// pool's workers take their submitter's dispatch for the tasks they run. So a run uses one
// dispatch from its first step to its last whatever other threads switch meanwhile, and a
// use_isa block never changes the kernels another thread is running.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "cpu/isa.h"

namespace fnn {

// How FRUGALNN_ISA was read at load time.
struct IsaEnvSelection {
  std::string value;    // the variable's text; empty when unset
  bool invalid = false;  // not a level name: the Python package refuses to import
  std::string message;   // why the request was not honoured as given (empty when it was)
};

const IsaEnvSelection& isa_env_selection();

// A level and whether feature kernels are on, as one value: kernels gated by a CPU feature
// that is not a rung of the ladder (AVX-VNNI on the avx2 rung, AVX512-BF16 on the avx512
// rung) are on by default; switching them off lets one machine test the rung's own kernels.
struct Dispatch {
  IsaLevel level = IsaLevel::kScalar;
  bool feature_kernels = true;
  int code() const { return static_cast<int>(level) * 2 + (feature_kernels ? 1 : 0); }
  static Dispatch from_code(int code) {
    return Dispatch{static_cast<IsaLevel>(code / 2), (code & 1) != 0};
  }
};

// The calling thread's dispatch: its pin, else the process default.
Dispatch current_dispatch();
IsaLevel active_isa();
bool feature_kernels_enabled();
// The process default. Throws std::invalid_argument if the level is not available on this
// CPU and build.
void set_active_isa(IsaLevel level);
void set_feature_kernels(bool enabled);
// Whether the calling thread is pinned, and to what.
bool thread_dispatch_pinned(Dispatch* pinned);
// Pins (or, with pinned == false, unpins) the calling thread. The level must be available.
void set_thread_dispatch(bool pinned, Dispatch d);

// Pins the calling thread's dispatch for a scope, restoring the previous pin after.
class DispatchPin {
 public:
  explicit DispatchPin(Dispatch d);
  ~DispatchPin();
  DispatchPin(const DispatchPin&) = delete;
  DispatchPin& operator=(const DispatchPin&) = delete;

 private:
  int previous_;
};

// A kernel family's config at the active level. `make(level, features)` builds the config of
// one level (the best kernels at or below it, with or without feature kernels); all are built
// once, on first use.
template <typename Config>
const Config& config_for_active_level(Config (*make)(IsaLevel, bool)) {
  static const std::array<std::array<Config, 2>, kNumIsaLevels> configs = [make] {
    std::array<std::array<Config, 2>, kNumIsaLevels> a;
    for (int i = 0; i < kNumIsaLevels; ++i) {
      for (int f = 0; f < 2; ++f) a[i][f] = make(static_cast<IsaLevel>(i), f == 1);
    }
    return a;
  }();
  const Dispatch d = current_dispatch();
  return configs[static_cast<int>(d.level)][d.feature_kernels ? 1 : 0];
}

// (family, ISA of the kernel that family runs at the active level), for runtime_info().
std::vector<std::pair<std::string, std::string>> kernel_families();

}  // namespace fnn
