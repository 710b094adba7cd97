#include <immintrin.h>

#include "kernels/quant/quant.h"

namespace fnn {

bool f32_minmax_ukernel__avx2(const float* x, size_t n, float* lo, float* hi) {
  __m256 vlo = _mm256_set1_ps(*lo), vhi = _mm256_set1_ps(*hi);
  __m256 bad = _mm256_setzero_ps();  // non-zero lanes: a NaN or infinity was seen
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_NEQ_UQ));
  }
  alignas(32) float l8[8], h8[8];
  _mm256_store_ps(l8, vlo);
  _mm256_store_ps(h8, vhi);
  float l = l8[0], h = h8[0];
  for (int j = 1; j < 8; ++j) {
    l = l8[j] < l ? l8[j] : l;
    h = h8[j] > h ? h8[j] : h;
  }
  bool finite = _mm256_movemask_ps(bad) == 0;
  for (; i < n; ++i) {
    const float v = x[i];
    l = v < l ? v : l;
    h = v > h ? v : h;
    finite &= (v - v) == 0.f;
  }
  *lo = l;
  *hi = h;
  return finite;
}

void f32_qu8_ukernel__avx2(const float* x, size_t n, float scale, int32_t zero_point,
                           uint8_t* y) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vzp = _mm256_set1_epi32(zero_point);
  const __m256i v0 = _mm256_setzero_si256(), v255 = _mm256_set1_epi32(255);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // cvtps2dq rounds to nearest even (default MXCSR), as nearbyint does.
    __m256i q = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i), vs));
    q = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(q, vzp), v0), v255);
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), _mm_packus_epi16(w, w));
  }
  for (; i < n; ++i) {
    int32_t q = static_cast<int32_t>(__builtin_nearbyintf(x[i] / scale)) + zero_point;
    q = q < 0 ? 0 : q;
    q = q > 255 ? 255 : q;
    y[i] = static_cast<uint8_t>(q);
  }
}

}  // namespace fnn
