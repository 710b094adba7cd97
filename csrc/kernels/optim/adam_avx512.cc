#include <immintrin.h>

#include "kernels/optim/adam.h"

namespace fnn {

// The scalar kernel's formulas, 16 lanes at a time, with real fused multiply-adds.
void f32_adam_ukernel__avx512(size_t n, float* param, const float* grad, float* m, float* v,
                            const AdamStepArgs* a) {
  const __m512 decay = _mm512_set1_ps(a->decay), wd = _mm512_set1_ps(a->wd), w1 = _mm512_set1_ps(a->w1);
  const __m512 omw1 = _mm512_set1_ps(a->one_minus_w1), b2 = _mm512_set1_ps(a->b2), w2 = _mm512_set1_ps(a->w2);
  const __m512 bc2 = _mm512_set1_ps(a->bc2_sqrt), neg_step = _mm512_set1_ps(a->neg_step), eps = _mm512_set1_ps(a->eps);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 p = _mm512_loadu_ps(param + i), g = _mm512_loadu_ps(grad + i);
    const __m512 mo = _mm512_loadu_ps(m + i), vo = _mm512_loadu_ps(v + i);
    if (a->decay_kind == 2) p = _mm512_mul_ps(p, decay);
    if (a->decay_kind == 1) g = _mm512_fmadd_ps(wd, p, g);
    const __m512 diff = _mm512_sub_ps(g, mo);
    const __m512 mi = a->small_w1 ? _mm512_fmadd_ps(w1, diff, mo) : _mm512_fmadd_ps(_mm512_xor_ps(diff, sign), omw1, g);
    const __m512 vi = _mm512_fmadd_ps(_mm512_mul_ps(w2, g), g, _mm512_mul_ps(vo, b2));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
    _mm512_storeu_ps(param + i, _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(neg_step, mi), denom)));
  }
  if (i < n) f32_adam_ukernel__scalar(n - i, param + i, grad + i, m + i, v + i, a);
}

}  // namespace fnn
