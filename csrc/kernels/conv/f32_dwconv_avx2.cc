// f32 depthwise micro-kernel, AVX2 + FMA: 8 channels per block in registers across all taps;
// a tail of fewer than 8 channels uses masked loads and stores.
#include <immintrin.h>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

__m256i tail_mask(size_t n) {
  // Lanes [0, n) set: compare the lane indices with n.
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

void f32_dwconv_ukernel__avx2(size_t c, const F32DwTaps& t, const float* bias, float lo,
                              float hi, float* y) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    __m256 a = bias != nullptr ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(xr + q * t.x_col), _mm256_loadu_ps(wr + q * t.w_col), a);
      }
    }
    _mm256_storeu_ps(y + j, _mm256_min_ps(vhi, _mm256_max_ps(vlo, a)));
  }
  for (; j < c; j += 8) {
    const size_t n = c - j < 8 ? c - j : 8;
    const __m256i m = tail_mask(n);
    __m256 a = bias != nullptr ? _mm256_maskload_ps(bias + j, m) : _mm256_setzero_ps();
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        a = _mm256_fmadd_ps(_mm256_maskload_ps(xr + q * t.x_col, m), _mm256_maskload_ps(wr + q * t.w_col, m), a);
      }
    }
    _mm256_maskstore_ps(y + j, m, _mm256_min_ps(vhi, _mm256_max_ps(vlo, a)));
  }
}

}  // namespace fnn
