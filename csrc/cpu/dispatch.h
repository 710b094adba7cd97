// The active ISA level. Every kernel family keeps one config per level, built once; the
// family's accessor returns the config of the active level, so switching is one atomic store.
#pragma once

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

// (family, ISA of the kernel that family runs at the active level), for runtime_info().
std::vector<std::pair<std::string, std::string>> kernel_families();

}  // namespace fnn
