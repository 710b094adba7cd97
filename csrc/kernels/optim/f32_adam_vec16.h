// The Adam micro-kernel body for one vector ISA (V: Avx2Vec16 or Avx512Vec16, 16 values a
// row): the scalar kernel's formulas with the FMA instruction, the tail under a lane mask so
// every value is rounded the same way. Include from that ISA's translation unit only.
#pragma once

#include <algorithm>
#include <cstddef>

#include "kernels/optim/adam.h"

namespace fnn {
namespace {

template <typename V>
void adam_vec16(size_t n, float* param, const float* grad, float* m, float* v, const AdamStepArgs* a) {
  using R = typename V::Reg;
  const R decay = V::set1(a->decay), wd = V::set1(a->wd), w1 = V::set1(a->w1), omw1 = V::set1(a->one_minus_w1);
  const R b2 = V::set1(a->b2), w2 = V::set1(a->w2), bc2 = V::set1(a->bc2_sqrt);
  const R neg_step = V::set1(a->neg_step), eps = V::set1(a->eps);
  for (size_t i = 0; i < n; i += 16) {
    const size_t nc = std::min<size_t>(16, n - i);
    const typename V::Mask mask = V::mask(nc);
    for (size_t r = 0; r < V::kRegs; ++r) {
      const size_t o = i + r * V::kLanes;
      const bool full = nc == 16;
      R p = full ? V::load(param + o) : V::load(param + o, mask, r);
      R g = full ? V::load(grad + o) : V::load(grad + o, mask, r);
      const R mo = full ? V::load(m + o) : V::load(m + o, mask, r);
      const R vo = full ? V::load(v + o) : V::load(v + o, mask, r);
      if (a->decay_kind == 2) p = V::mul(p, decay);
      if (a->decay_kind == 1) g = V::fmadd(wd, p, g);
      const R diff = V::sub(g, mo);
      const R mi = a->small_w1 ? V::fmadd(w1, diff, mo) : V::fnmadd(diff, omw1, g);
      const R vi = V::fmadd(V::mul(w2, g), g, V::mul(vo, b2));
      const R out = V::add(p, V::div(V::mul(neg_step, mi), V::add(V::div(V::sqrt(vi), bc2), eps)));
      if (full) {
        V::store(m + o, mi);
        V::store(v + o, vi);
        V::store(param + o, out);
      } else {
        V::store(m + o, mi, mask, r);
        V::store(v + o, vi, mask, r);
        V::store(param + o, out, mask, r);
      }
    }
  }
}

}  // namespace
}  // namespace fnn
