#include "train/optimizer_update.h"

#include <cmath>
#include <type_traits>

#include "runtime/parallel.h"

namespace fnn {
namespace {

constexpr size_t kMinChunk = size_t{1} << 15;  // elements per task, at least

// a * b + c rounded once, as torch's vectorized FMA paths: the float product is exact in
// double, so only the sum rounds twice (double, then float) — a different result only when
// the double sum lands exactly halfway between two floats. Unlike std::fma on a baseline
// x86-64 build (a libm call per element), this vectorizes.
inline float fma_f32(float a, float b, float c) {
  return static_cast<float>(static_cast<double>(a) * static_cast<double>(b) + static_cast<double>(c));
}

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
      float g = wd != 0.f ? fma_f32(wd, param[i], grad[i]) : grad[i];
      if (mom != 0.f) {
        const float buf = velocity[i] * mom + g;  // mul_, then add_ (alpha 1: exact)
        velocity[i] = buf;
        g = a.nesterov ? fma_f32(mom, buf, g) : buf;
      }
      param[i] = fma_f32(neg_lr, g, param[i]);
    }
    if (mask != nullptr) apply_mask(b, e, mask, param, grad, velocity, nullptr);
  });
}

void adam_update(size_t n, float* param, float* grad, float* m, float* v, const uint8_t* mask,
                 const AdamArgs& a) {
  const double t = static_cast<double>(a.step);
  const auto decay = static_cast<float>(1.0 - a.lr * a.weight_decay);
  const auto wd = static_cast<float>(a.weight_decay);
  const auto w1 = static_cast<float>(1.0 - a.beta1);        // lerp weight
  const auto b2 = static_cast<float>(a.beta2);
  const auto w2 = static_cast<float>(1.0 - a.beta2);        // addcmul value
  const auto bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(a.beta2, t)));
  const auto neg_step = static_cast<float>(-(a.lr / (1.0 - std::pow(a.beta1, t))));
  const auto eps = static_cast<float>(a.eps);
  const bool small_w1 = std::fabs(w1) < 0.5f;
  const float one_minus_w1 = 1.f - w1;
  // The loop is instantiated per (weight decay kind, lerp form): no branch inside, so it
  // vectorizes.
  auto run = [&](auto decay_kind, auto small) {
    constexpr int kDecay = decltype(decay_kind)::value;  // 0 none, 1 L2 on the gradient, 2 decoupled
    constexpr bool kSmall = decltype(small)::value;
    parallel_ranges(n, kMinChunk, update_threads(), [&](size_t b, size_t e) {
      if (mask != nullptr) apply_mask(b, e, mask, param, grad, m, v);
      for (size_t i = b; i < e; ++i) {
        float p = param[i], g = grad[i];
        if (kDecay == 2) p *= decay;
        if (kDecay == 1) g = fma_f32(wd, p, g);
        // torch's lerp: self + w * (end - self) for |w| < 0.5, else end - (end - self) * (1 - w).
        const float diff = g - m[i];
        const float mi = kSmall ? fma_f32(w1, diff, m[i]) : fma_f32(-diff, one_minus_w1, g);
        const float vi = fma_f32(w2 * g, g, v[i] * b2);
        m[i] = mi;
        v[i] = vi;
        const float denom = std::sqrt(vi) / bc2_sqrt + eps;
        param[i] = p + (neg_step * mi) / denom;
      }
      if (mask != nullptr) apply_mask(b, e, mask, param, grad, m, v);
    });
  };
  using None = std::integral_constant<int, 0>;
  using L2 = std::integral_constant<int, 1>;
  using Decoupled = std::integral_constant<int, 2>;
  using Small = std::true_type;
  using Large = std::false_type;
  if (wd == 0.f) {
    small_w1 ? run(None{}, Small{}) : run(None{}, Large{});
  } else if (a.decoupled) {
    small_w1 ? run(Decoupled{}, Small{}) : run(Decoupled{}, Large{});
  } else {
    small_w1 ? run(L2{}, Small{}) : run(L2{}, Large{});
  }
}

}  // namespace fnn
