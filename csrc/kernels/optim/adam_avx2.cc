#include <immintrin.h>

#include "kernels/optim/adam.h"

namespace fnn {

// The scalar kernel's formulas, 8 lanes at a time, with real fused multiply-adds.
void f32_adam_ukernel__avx2(size_t n, float* param, const float* grad, float* m, float* v,
                            const AdamStepArgs* a) {
  const __m256 decay = _mm256_set1_ps(a->decay), wd = _mm256_set1_ps(a->wd), w1 = _mm256_set1_ps(a->w1);
  const __m256 omw1 = _mm256_set1_ps(a->one_minus_w1), b2 = _mm256_set1_ps(a->b2), w2 = _mm256_set1_ps(a->w2);
  const __m256 bc2 = _mm256_set1_ps(a->bc2_sqrt), neg_step = _mm256_set1_ps(a->neg_step), eps = _mm256_set1_ps(a->eps);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 p = _mm256_loadu_ps(param + i), g = _mm256_loadu_ps(grad + i);
    const __m256 mo = _mm256_loadu_ps(m + i), vo = _mm256_loadu_ps(v + i);
    if (a->decay_kind == 2) p = _mm256_mul_ps(p, decay);
    if (a->decay_kind == 1) g = _mm256_fmadd_ps(wd, p, g);
    const __m256 diff = _mm256_sub_ps(g, mo);
    const __m256 mi = a->small_w1 ? _mm256_fmadd_ps(w1, diff, mo) : _mm256_fmadd_ps(_mm256_xor_ps(diff, sign), omw1, g);
    const __m256 vi = _mm256_fmadd_ps(_mm256_mul_ps(w2, g), g, _mm256_mul_ps(vo, b2));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    _mm256_storeu_ps(param + i, _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(neg_step, mi), denom)));
  }
  if (i < n) f32_adam_ukernel__scalar(n - i, param + i, grad + i, m + i, v + i, a);
}

}  // namespace fnn
