// f32 depthwise micro-kernel, AVX-512: 16 channels per block in registers across all taps,
// masked tails.
#include <immintrin.h>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {

void f32_dwconv_ukernel__avx512(size_t c, const F32DwTaps& t, const float* bias, float lo,
                                float hi, float* y) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  size_t j = 0;
  // Two blocks at a time: two independent FMA chains hide the latency.
  for (; j + 32 <= c; j += 32) {
    __m512 a0 = bias != nullptr ? _mm512_loadu_ps(bias + j) : _mm512_setzero_ps();
    __m512 a1 = bias != nullptr ? _mm512_loadu_ps(bias + j + 16) : _mm512_setzero_ps();
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        const float* xp = xr + q * t.x_col;
        const float* wp = wr + q * t.w_col;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xp), _mm512_loadu_ps(wp), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 16), _mm512_loadu_ps(wp + 16), a1);
      }
    }
    _mm512_storeu_ps(y + j, _mm512_min_ps(vhi, _mm512_max_ps(vlo, a0)));
    _mm512_storeu_ps(y + j + 16, _mm512_min_ps(vhi, _mm512_max_ps(vlo, a1)));
  }
  for (; j < c; j += 16) {
    const size_t n = c - j < 16 ? c - j : 16;
    const auto m = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
    __m512 a = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias + j) : _mm512_setzero_ps();
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr + q * t.x_col),
                            _mm512_maskz_loadu_ps(m, wr + q * t.w_col), a);
      }
    }
    _mm512_mask_storeu_ps(y + j, m, _mm512_min_ps(vhi, _mm512_max_ps(vlo, a)));
  }
}

}  // namespace fnn
