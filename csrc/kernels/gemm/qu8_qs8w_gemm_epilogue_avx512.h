// Shared by the AVX-512 int8 GEMM kernels (qu8_qs8w_gemm_avx512.cc, _avx512vnni.cc): A loads
// and the epilogue (zero-point compensation, int32 / f32 / u8 outputs). Include it only from
// translation units compiled with AVX-512 F/BW/VL; everything here lives in an anonymous
// namespace, so each translation unit compiles its own copy with its own flags and no
// AVX-512 code can be shared with another ISA's code through the linker.
#pragma once

#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

int32_t load_a4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The last 1-3 bytes of a row, zero-extended; the packer zero-pads W there.
int32_t load_a_tail(const uint8_t* p, size_t n) {
  // Byte loads, not memcpy(&v, p, n): a run-time-length memcpy is a library call per row,
  // which made the whole GEMM 5x slower at K = 9 (a 3x3 conv on one input channel).
  uint32_t v = p[0];
  if (n > 1) v |= uint32_t{p[1]} << 8;
  if (n > 2) v |= uint32_t{p[2]} << 16;
  return static_cast<int32_t>(v);
}

// Keeps the compiler from fusing the multiply and the following add into an FMA (it would
// under -ffp-contract=fast): the scalar reference rounds after each of them.
__m512 opaque(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

template <size_t M>
void store_rows(const __m512i* acc, size_t nc, void* c, size_t c_stride,
                const QGemmParams& p) {
  const __mmask16 mask = static_cast<__mmask16>((1u << nc) - 1);
  __m512i vacc[M];
  if (p.a_zero_point != 0) {
    const __m512i vzc = _mm512_mullo_epi32(_mm512_set1_epi32(p.a_zero_point),
                                           _mm512_loadu_si512(p.colsum));
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) vacc[m] = _mm512_sub_epi32(acc[m], vzc);
  } else {
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) vacc[m] = acc[m];
  }
  switch (p.out_kind) {
    case kQGemmOutInt32: {
      const __m512i vb = p.bias_i32 != nullptr ? _mm512_loadu_si512(p.bias_i32)
                                               : _mm512_setzero_si512();
      int32_t* cm = static_cast<int32_t*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        _mm512_mask_storeu_epi32(cm, mask, _mm512_add_epi32(vacc[m], vb));
      }
      break;
    }
    case kQGemmOutF32: {
      const __m512 vs = _mm512_loadu_ps(p.scale);
      const __m512 vb = p.bias_f32 != nullptr ? _mm512_loadu_ps(p.bias_f32) : _mm512_setzero_ps();
      const __m512 vmin = _mm512_set1_ps(p.min);
      const __m512 vmax = _mm512_set1_ps(p.max);
      float* cm = static_cast<float*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        __m512 f = opaque(_mm512_mul_ps(_mm512_cvtepi32_ps(vacc[m]), vs));
        f = _mm512_add_ps(f, vb);
        f = _mm512_max_ps(vmin, f);
        f = _mm512_min_ps(vmax, f);
        _mm512_mask_storeu_ps(cm, mask, f);
      }
      break;
    }
    case kQGemmOutU8: {
      const __m512i vb = p.bias_i32 != nullptr ? _mm512_loadu_si512(p.bias_i32)
                                               : _mm512_setzero_si512();
      const __m512 vs = _mm512_loadu_ps(p.scale);
      const __m512 vlo = _mm512_set1_ps(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
      const __m512 vhi = _mm512_set1_ps(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
      const __m512i vzp = _mm512_set1_epi32(p.out_zero_point);
      uint8_t* cm = static_cast<uint8_t*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(vacc[m], vb)), vs);
        f = _mm512_max_ps(f, vlo);
        f = _mm512_min_ps(f, vhi);
        const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), vzp);  // in [qmin, qmax]
        _mm512_mask_cvtepi32_storeu_epi8(cm, mask, q);
      }
      break;
    }
    default:
      assert(false && "unknown QGemmOutKind");
      break;
  }
}

}  // namespace
}  // namespace fnn
