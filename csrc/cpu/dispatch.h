// The active ISA level. Every kernel family keeps one config per level, built once; the
// family's accessor returns the config of the active level, so switching is one atomic store.
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
IsaLevel active_isa();
// Throws std::invalid_argument if the level is not available on this CPU and build.
void set_active_isa(IsaLevel level);

// Feature kernels: kernels gated by a CPU feature that is not a rung of the ladder (AVX-VNNI
// on the avx2 rung, AVX512-BF16 on the avx512 rung). On by default; switching them off lets
// one machine test the rung's own kernels too.
bool feature_kernels_enabled();
void set_feature_kernels(bool enabled);

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
  return configs[static_cast<int>(active_isa())][feature_kernels_enabled() ? 1 : 0];
}

// (family, ISA of the kernel that family runs at the active level), for runtime_info().
std::vector<std::pair<std::string, std::string>> kernel_families();

}  // namespace fnn
