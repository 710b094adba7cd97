#include <immintrin.h>

#include "kernels/quant/quant.h"

namespace fnn {

bool f32_minmax_ukernel__avx512(const float* x, size_t n, float* lo, float* hi) {
  __m512 vlo = _mm512_set1_ps(*lo), vhi = _mm512_set1_ps(*hi);
  __mmask16 bad = 0;
  for (size_t i = 0; i < n; i += 16) {
    const size_t rem = n - i;
    const __mmask16 m = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    vlo = _mm512_mask_min_ps(vlo, m, vlo, v);
    vhi = _mm512_mask_max_ps(vhi, m, vhi, v);
    bad |= _mm512_mask_cmp_ps_mask(m, _mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);
  }
  *lo = _mm512_reduce_min_ps(vlo);
  *hi = _mm512_reduce_max_ps(vhi);
  return bad == 0;
}

void f32_qu8_ukernel__avx512(const float* x, size_t n, float scale, int32_t zero_point,
                             uint8_t* y) {
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512i vzp = _mm512_set1_epi32(zero_point);
  const __m512i v0 = _mm512_setzero_si512(), v255 = _mm512_set1_epi32(255);
  for (size_t i = 0; i < n; i += 16) {
    const size_t rem = n - i;
    const __mmask16 m = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
    // cvtps2dq rounds to nearest even (default MXCSR), as nearbyint does.
    __m512i q = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
    q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, vzp), v0), v255);
    _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(q));
  }
}

}  // namespace fnn
