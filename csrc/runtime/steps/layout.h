// Layout changes between the API's NCHW and the runtime's NHWC: to_nhwc, to_nchw.
#pragma once

#include <cstddef>

#include "runtime/step.h"

namespace fnn {

struct LayoutParams : StepParams {
  size_t c = 0, hw = 0;  // channels, pixels per channel
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.c), f(p.hw);
  }
};

}  // namespace fnn
