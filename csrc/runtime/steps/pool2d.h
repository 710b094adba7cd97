#pragma once

#include "kernels/conv/conv_nhwc.h"
#include "runtime/step.h"

namespace fnn {

// maxpool2d / avgpool2d: the window geometry per sample (n is set at run time).
struct Pool2dParams : StepParams {
  Pool2dGeometry geometry;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.geometry);
  }
};

}  // namespace fnn
