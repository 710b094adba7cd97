// int8 depthwise micro-kernel, AVX2: 8 channels per block (the products and the zero-point
// correction of the AVX-512 kernel, see qu8_dwconv_avx512.h); a tail of fewer than 8
// channels runs the scalar kernel, which this one matches bit for bit.
#include <immintrin.h>

#include <cstring>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

__m256 opaque(__m256 v) {
  __asm__("" : "+x"(v));
  return v;
}

__m128i load8(const void* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm_cvtsi64_si128(v);
}

}  // namespace

void qu8_dwconv_ukernel__avx2(size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  const __m256i vzp = _mm256_set1_epi32(p.a_zero_point);
  const bool full = t.full && p.w_sum != nullptr;
  const __m256 vqlo = _mm256_set1_ps(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
  const __m256 vqhi = _mm256_set1_ps(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
  const __m256i vozp = _mm256_set1_epi32(p.out_zero_point);
  const __m256 vlo = _mm256_set1_ps(p.lo), vhi = _mm256_set1_ps(p.hi);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    // sum(x * w) - zp * sum(w): x zero-extended in its lane, so vpmaddwd gives x * w.
    __m256i acc = _mm256_setzero_si256(), wsum = _mm256_setzero_si256();
    for (size_t r = 0; r < t.rows; ++r) {
      const uint8_t* xr = t.x + r * t.x_row + j;
      const int8_t* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        const __m256i xv = _mm256_cvtepu8_epi32(load8(xr + q * t.x_col));
        const __m256i wv = _mm256_cvtepi8_epi32(load8(wr + q * t.w_col));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv));
        if (!full) wsum = _mm256_add_epi32(wsum, wv);
      }
    }
    if (full) wsum = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.w_sum + j));
    acc = _mm256_sub_epi32(acc, _mm256_mullo_epi32(wsum, vzp));
    const __m256 vs = _mm256_loadu_ps(p.scale + j);
    if (p.out_u8) {
      if (p.bias_i32 != nullptr) {
        acc = _mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias_i32 + j)));
      }
      __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs);
      f = _mm256_min_ps(_mm256_max_ps(f, vqlo), vqhi);
      const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(f), vozp);  // in [qmin, qmax]
      const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      const int64_t q8 = _mm_cvtsi128_si64(_mm_packus_epi16(q16, q16));
      std::memcpy(static_cast<uint8_t*>(y) + j, &q8, 8);
    } else {
      __m256 f = opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs));
      if (p.bias_f32 != nullptr) f = _mm256_add_ps(f, _mm256_loadu_ps(p.bias_f32 + j));
      f = _mm256_max_ps(f, vlo);
      f = _mm256_min_ps(f, vhi);
      _mm256_storeu_ps(static_cast<float*>(y) + j, f);
    }
  }
  if (j == c) return;
  QDwTaps tail = t;
  tail.x += j;
  tail.w += j;
  QDwParams pt = p;
  pt.scale += j;
  if (pt.w_sum != nullptr) pt.w_sum += j;
  if (pt.bias_i32 != nullptr) pt.bias_i32 += j;
  if (pt.bias_f32 != nullptr) pt.bias_f32 += j;
  void* yt = p.out_u8 ? static_cast<void*>(static_cast<uint8_t*>(y) + j)
                      : static_cast<void*>(static_cast<float*>(y) + j);
  qu8_dwconv_ukernel__scalar(c - j, tail, pt, yt);
}

}  // namespace fnn
