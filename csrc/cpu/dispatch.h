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

// A kernel family's config at the active level. `make` builds the config of one level (the
// best kernels at or below it); all levels are built once, on first use.
template <typename Config>
const Config& config_for_active_level(Config (*make)(IsaLevel)) {
  static const std::array<Config, kNumIsaLevels> configs = [make] {
    std::array<Config, kNumIsaLevels> a;
    for (int i = 0; i < kNumIsaLevels; ++i) a[i] = make(static_cast<IsaLevel>(i));
    return a;
  }();
  return configs[static_cast<int>(active_isa())];
}

// (family, ISA of the kernel that family runs at the active level), for runtime_info().
std::vector<std::pair<std::string, std::string>> kernel_families();

}  // namespace fnn
