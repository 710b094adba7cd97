// Optimizer updates for training, in place over flat float32 arrays, matching torch.optim's
// single-tensor (foreach=False) CPU steps formula by formula in float32: where torch rounds
// once (add with alpha, lerp, addcmul run as fused multiply-adds on its vector paths) these
// do too. torch's own vectorized sqrt is not correctly rounded, so results agree to about an
// ulp, not bit for bit.
//
// mask (optional, one byte per element, 0 = pruned): there param and grad are set to exactly
// 0 and the optimizer state is left at (and kept at) 0.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

struct SgdArgs {
  float lr = 0.f, momentum = 0.f, weight_decay = 0.f;
  bool nesterov = false;
};

// torch.optim.SGD (dampening 0): g = grad + wd * p; buf = momentum * buf + g;
// g = nesterov ? g + momentum * buf : buf; p -= lr * g. velocity may be null when
// momentum == 0 (then g is used directly).
void sgd_update(size_t n, float* param, float* grad, float* velocity, const uint8_t* mask,
                const SgdArgs& args);

struct AdamArgs {
  double lr = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled = false;  // AdamW: p *= 1 - lr * wd first; else L2: g = grad + wd * p
  int64_t step = 1;        // 1-based
};

// torch.optim.Adam / AdamW (amsgrad off): m = lerp(m, g, 1 - b1); v = b2 * v + (1 - b2) g^2;
// denom = sqrt(v) / sqrt(1 - b2^t) + eps; p -= (lr / (1 - b1^t)) * m / denom. The scalar
// factors are computed in double and rounded to float, as torch's Python-side arithmetic.
void adam_update(size_t n, float* param, float* grad, float* m, float* v, const uint8_t* mask,
                 const AdamArgs& args);

}  // namespace fnn
