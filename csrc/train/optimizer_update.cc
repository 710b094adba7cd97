#include "train/optimizer_update.h"

#include <cmath>

#include "kernels/optim/adam_config.h"
#include "runtime/parallel.h"

namespace fnn {
namespace {

constexpr size_t kMinChunk = size_t{1} << 15;  // elements per task, at least

size_t update_threads() { return in_parallel_task() ? 1 : get_num_threads(); }

// Pruned positions: param and grad exactly 0, the state (the other arrays) 0.
void apply_mask(size_t b, size_t e, const uint8_t* mask, float* param, float* grad, float* s0,
                float* s1) {
  for (size_t i = b; i < e; ++i) {
    if (mask[i] != 0) continue;
    param[i] = 0.f;
    grad[i] = 0.f;
    if (s0 != nullptr) s0[i] = 0.f;
    if (s1 != nullptr) s1[i] = 0.f;
  }
}

}  // namespace

void sgd_update(size_t n, float* param, float* grad, float* velocity, const uint8_t* mask,
                const SgdArgs& a) {
  const float mom = a.momentum, wd = a.weight_decay, neg_lr = -a.lr;
  parallel_ranges(n, kMinChunk, update_threads(), [&](size_t b, size_t e) {
    if (mask != nullptr) apply_mask(b, e, mask, param, grad, velocity, nullptr);
    for (size_t i = b; i < e; ++i) {
      float g = wd != 0.f ? fma_emulated(wd, param[i], grad[i]) : grad[i];
      if (mom != 0.f) {
        const float buf = velocity[i] * mom + g;  // mul_, then add_ (alpha 1: exact)
        velocity[i] = buf;
        g = a.nesterov ? fma_emulated(mom, buf, g) : buf;
      }
      param[i] = fma_emulated(neg_lr, g, param[i]);
    }
    if (mask != nullptr) apply_mask(b, e, mask, param, grad, velocity, nullptr);
  });
}

void adam_update(size_t n, float* param, float* grad, float* m, float* v, const uint8_t* mask,
                 const AdamArgs& a) {
  const double t = static_cast<double>(a.step);
  AdamStepArgs k;
  k.decay_kind = a.weight_decay == 0.0 ? 0 : a.decoupled ? 2 : 1;
  k.decay = static_cast<float>(1.0 - a.lr * a.weight_decay);
  k.wd = static_cast<float>(a.weight_decay);
  k.w1 = static_cast<float>(1.0 - a.beta1);  // lerp weight
  k.one_minus_w1 = 1.f - k.w1;
  k.small_w1 = std::fabs(k.w1) < 0.5f;
  k.b2 = static_cast<float>(a.beta2);
  k.w2 = static_cast<float>(1.0 - a.beta2);  // addcmul value
  k.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(a.beta2, t)));
  k.neg_step = static_cast<float>(-(a.lr / (1.0 - std::pow(a.beta1, t))));
  k.eps = static_cast<float>(a.eps);
  const F32AdamFn kernel = adam_config().f32;
  parallel_ranges(n, kMinChunk, update_threads(), [&](size_t b, size_t e) {
    if (mask != nullptr) apply_mask(b, e, mask, param, grad, m, v);
    kernel(e - b, param + b, grad + b, m + b, v + b, &k);
    if (mask != nullptr) apply_mask(b, e, mask, param, grad, m, v);
  });
}

}  // namespace fnn
