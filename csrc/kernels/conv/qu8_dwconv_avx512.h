// The AVX-512 int8 depthwise micro-kernel, shared by qu8_dwconv_avx512.cc and
// qu8_dwconv_avx512vnni.cc (which differ in the product-accumulate instruction). Include it
// only from translation units compiled with AVX-512 F/BW/VL; everything here is in an
// anonymous namespace, so each includes its own copy with its own flags.
//
// Products: a channel's x sits zero-extended in its 32-bit lane, so vpmaddwd (or VNNI's
// vpdpwssd, which also accumulates) gives x * w exactly from the low 16-bit halves, whatever
// w's sign extension put in the high one. The zero point comes off once per block:
// sum(x * w) - zp * sum(w) (full windows use the precomputed sums of p.w_sum).
#pragma once

#include <immintrin.h>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

// Keeps the compiler from fusing the multiply and the following add into an FMA: the
// scalar reference rounds after each.
__m512 opaque(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

template <bool kVnni, bool kFull>
__m512i dw_sum(const QDwTaps& t, size_t j, __mmask16 m, __m512i* wacc) {
  __m512i acc = _mm512_setzero_si512();
  for (size_t r = 0; r < t.rows; ++r) {
    const uint8_t* xr = t.x + r * t.x_row + j;
    const int8_t* wr = t.w + r * t.w_row + j;
    for (size_t q = 0; q < t.cols; ++q) {
      const __m512i xv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, xr + q * t.x_col));
      const __m512i wv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, wr + q * t.w_col));
      if constexpr (kVnni) {
        acc = _mm512_dpwssd_epi32(acc, xv, wv);
      } else {
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xv, wv));
      }
      if constexpr (!kFull) *wacc = _mm512_add_epi32(*wacc, wv);
    }
  }
  return acc;
}

template <bool kVnni>
void qu8_dwconv_avx512(size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  const __m512i vzp = _mm512_set1_epi32(p.a_zero_point);
  const __m512 vqlo = _mm512_set1_ps(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
  const __m512 vqhi = _mm512_set1_ps(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
  const __m512i vozp = _mm512_set1_epi32(p.out_zero_point);
  const __m512 vlo = _mm512_set1_ps(p.lo), vhi = _mm512_set1_ps(p.hi);
  const bool full = t.full && p.w_sum != nullptr;
  for (size_t j = 0; j < c; j += 16) {
    const size_t n = c - j < 16 ? c - j : 16;
    const auto m = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
    __m512i wsum = _mm512_setzero_si512();
    __m512i acc;
    if (full) {
      acc = dw_sum<kVnni, true>(t, j, m, &wsum);
      wsum = _mm512_maskz_loadu_epi32(m, p.w_sum + j);
    } else {
      acc = dw_sum<kVnni, false>(t, j, m, &wsum);
    }
    acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(wsum, vzp));
    const __m512 vs = _mm512_maskz_loadu_ps(m, p.scale + j);
    if (p.out_u8) {
      if (p.bias_i32 != nullptr) acc = _mm512_add_epi32(acc, _mm512_maskz_loadu_epi32(m, p.bias_i32 + j));
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), vs);
      f = _mm512_min_ps(_mm512_max_ps(f, vqlo), vqhi);
      const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), vozp);  // in [qmin, qmax]
      _mm512_mask_cvtepi32_storeu_epi8(static_cast<uint8_t*>(y) + j, m, q);
    } else {
      __m512 f = opaque(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), vs));
      if (p.bias_f32 != nullptr) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(m, p.bias_f32 + j));
      f = _mm512_max_ps(f, vlo);
      f = _mm512_min_ps(f, vhi);
      _mm512_mask_storeu_ps(static_cast<float*>(y) + j, m, f);
    }
  }
}

}  // namespace
}  // namespace fnn
