#pragma once

#include <vector>

#include "runtime/step.h"

namespace fnn {

// y = x * scale[ch] + shift[ch] over the innermost axis of scale.size() channels (a
// BatchNorm / ScaleShift compile() could not fold); one value scales every element.
struct ScaleShiftParams : StepParams {
  std::vector<float> scale, shift;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.scale), f(p.shift);
  }
};

}  // namespace fnn
