#include <cmath>

#include "kernels/optim/adam.h"

namespace fnn {
void f32_adam_ukernel__scalar(size_t n, float* param, const float* grad, float* m, float* v,
                              const AdamStepArgs* a) {
  for (size_t i = 0; i < n; ++i) {
    float p = param[i], g = grad[i];
    if (a->decay_kind == 2) p *= a->decay;
    if (a->decay_kind == 1) g = fma_emulated(a->wd, p, g);
    // torch's lerp: self + w * (end - self) for |w| < 0.5, else end - (end - self) * (1 - w).
    const float diff = g - m[i];
    const float mi = a->small_w1 ? fma_emulated(a->w1, diff, m[i]) : fma_emulated(-diff, a->one_minus_w1, g);
    const float vi = fma_emulated(a->w2 * g, g, v[i] * a->b2);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / a->bc2_sqrt + a->eps;
    param[i] = p + (a->neg_step * mi) / denom;
  }
}

}  // namespace fnn
