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

// ---- Training (float32 NHWC, g.n set) ----------------------------------------------------
// Forwards: the inference loops over all pixels. Backwards overwrite dx; max-pool sends each
// window's dy to the first tap (row-major) whose x equals y, recomputed from x and y, and
// only where lo < x < hi: the backward of a clamp before the pool, fused (±inf: none).
void maxpool2d_train_forward(const Pool2dGeometry& g, const float* x, float* y);
void maxpool2d_backward(const Pool2dGeometry& g, const float* x, const float* y, const float* dy,
                        float* dx, float lo, float hi);
void avgpool2d_train_forward(const Pool2dGeometry& g, const float* x, float* y);
void avgpool2d_backward(const Pool2dGeometry& g, const float* dy, float* dx);

}  // namespace fnn
