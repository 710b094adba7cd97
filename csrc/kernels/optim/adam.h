// Adam / AdamW's element-wise update (torch.optim's formulas, see train/optimizer_update.h):
// one micro-kernel per ISA level. The scalar one emulates a fused multiply-add by a double
// product and sum (exact product, then one rounding of the sum to float, then a second:
// different from a real FMA only when the sum lands halfway between two floats); the SIMD
// ones use the FMA instruction, as torch's vectorized CPU path does.
#pragma once

#include <cstddef>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// a * b + c rounded once from an exact double product (then again to float: a real FMA's
// result unless the double sum lands exactly halfway between two floats). Portable, and it
// vectorizes, unlike std::fma on a baseline x86-64 build (a libm call per element).
inline float fma_emulated(float a, float b, float c) {
  return static_cast<float>(static_cast<double>(a) * static_cast<double>(b) + static_cast<double>(c));
}

// The step's constants, in float as torch rounds them.
struct AdamStepArgs {
  int decay_kind = 0;        // 0 none, 1 L2 on the gradient (g += wd * p), 2 decoupled (p *= decay)
  float decay = 1.f;         // 1 - lr * wd
  float wd = 0.f;
  float w1 = 0.1f;           // 1 - beta1, lerp's weight
  float one_minus_w1 = 0.9f;
  bool small_w1 = true;      // |w1| < 0.5: lerp's first form
  float b2 = 0.999f, w2 = 0.001f;
  float bc2_sqrt = 1.f;      // sqrt(1 - beta2^t)
  float neg_step = 0.f;      // -lr / (1 - beta1^t)
  float eps = 1e-8f;
};

using F32Adam = void(size_t n, float* param, const float* grad, float* m, float* v,
                     const AdamStepArgs* args);
using F32AdamFn = F32Adam*;

FNN_UKERNEL_SIG(F32Adam, F32Adam);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/optim/adam_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
