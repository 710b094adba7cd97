#pragma once

#include <cstddef>

#include "runtime/step.h"

namespace fnn {

// softmax over each run of `cols` values (the last axis, in the stored layout).
struct SoftmaxParams : StepParams {
  size_t cols = 0;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.cols);
  }
};

}  // namespace fnn
