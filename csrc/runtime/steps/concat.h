#pragma once

#include <cstddef>
#include <vector>

#include "runtime/step.h"

namespace fnn {

// Concatenation on any axis: the output is runs of parts[j] values from input j, j = 0, 1,
// ... in turn, repeated for every position outside the axis (its values per sample / the
// parts' sum times).
struct ConcatParams : StepParams {
  std::vector<size_t> parts;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.parts);
  }
};

}  // namespace fnn
