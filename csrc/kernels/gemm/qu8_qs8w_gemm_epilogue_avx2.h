// Shared by the 256-bit int8 GEMM kernels (qu8_qs8w_gemm_avx2.cc, _avxvnni.cc): A loads and
// the epilogue (zero-point compensation, int32 / f32 / u8 outputs). Include it only from
// translation units compiled with at least AVX2; everything here lives in an anonymous
// namespace, so each translation unit compiles its own copy with its own flags and nothing is
// shared with another ISA's code through the linker.
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

__m256i load8i(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Keeps the compiler from fusing the multiply and the following add into an FMA (it would
// under -ffp-contract=fast): the scalar reference rounds after each of them.
__m256 opaque(__m256 v) {
  __asm__("" : "+v"(v));
  return v;
}

// 8 columns of one row: (acc0, acc1) = columns 0-7 and 8-15. Full rows store directly;
// nc < 16 goes through a stack buffer so nothing past column nc is written.
struct Epilogue {
  uint32_t kind;
  __m256i vzc0, vzc1;   // a_zero_point * colsum
  __m256i vbi0, vbi1;   // bias_i32 (int32 and u8 outputs)
  __m256 vs0, vs1;      // scale
  __m256 vbf0, vbf1;    // bias_f32
  __m256 vmin, vmax;    // f32 clamp
  __m256 vlo, vhi;      // u8 clamp, relative to the zero point
  __m256i vzp;
};

Epilogue make_epilogue(const QGemmParams& p) {
  Epilogue e;
  e.kind = p.out_kind;
  e.vzc0 = e.vzc1 = _mm256_setzero_si256();
  if (p.a_zero_point != 0) {
    const __m256i vazp = _mm256_set1_epi32(p.a_zero_point);
    e.vzc0 = _mm256_mullo_epi32(vazp, load8i(p.colsum));
    e.vzc1 = _mm256_mullo_epi32(vazp, load8i(p.colsum + 8));
  }
  e.vbi0 = e.vbi1 = _mm256_setzero_si256();
  e.vs0 = e.vs1 = e.vbf0 = e.vbf1 = _mm256_setzero_ps();
  e.vmin = e.vmax = e.vlo = e.vhi = _mm256_setzero_ps();
  e.vzp = _mm256_setzero_si256();
  if (p.out_kind != kQGemmOutF32 && p.bias_i32 != nullptr) {
    e.vbi0 = load8i(p.bias_i32);
    e.vbi1 = load8i(p.bias_i32 + 8);
  }
  if (p.out_kind != kQGemmOutInt32) {
    e.vs0 = _mm256_loadu_ps(p.scale);
    e.vs1 = _mm256_loadu_ps(p.scale + 8);
  }
  if (p.out_kind == kQGemmOutF32) {
    if (p.bias_f32 != nullptr) {
      e.vbf0 = _mm256_loadu_ps(p.bias_f32);
      e.vbf1 = _mm256_loadu_ps(p.bias_f32 + 8);
    }
    e.vmin = _mm256_set1_ps(p.min);
    e.vmax = _mm256_set1_ps(p.max);
  }
  if (p.out_kind == kQGemmOutU8) {
    e.vlo = _mm256_set1_ps(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
    e.vhi = _mm256_set1_ps(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
    e.vzp = _mm256_set1_epi32(p.out_zero_point);
  }
  return e;
}

__m256 to_f32(__m256i acc, __m256 vs, __m256 vb, __m256 vmin, __m256 vmax) {
  __m256 f = opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs));
  f = _mm256_add_ps(f, vb);
  f = _mm256_max_ps(vmin, f);
  return _mm256_min_ps(vmax, f);
}

__m256i to_u8_i32(__m256i acc, __m256i vb, __m256 vs, __m256 vlo, __m256 vhi, __m256i vzp) {
  __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, vb)), vs);
  f = _mm256_max_ps(f, vlo);
  f = _mm256_min_ps(f, vhi);
  return _mm256_add_epi32(_mm256_cvtps_epi32(f), vzp);  // in [qmin, qmax]
}

void store_row(const Epilogue& e, __m256i acc0, __m256i acc1, size_t nc, void* c) {
  acc0 = _mm256_sub_epi32(acc0, e.vzc0);
  acc1 = _mm256_sub_epi32(acc1, e.vzc1);
  switch (e.kind) {
    case kQGemmOutInt32: {
      const __m256i r0 = _mm256_add_epi32(acc0, e.vbi0);
      const __m256i r1 = _mm256_add_epi32(acc1, e.vbi1);
      int32_t* cm = static_cast<int32_t*>(c);
      if (nc == 16) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(cm), r0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(cm + 8), r1);
      } else {
        int32_t tmp[16];
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp), r0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp + 8), r1);
        std::memcpy(cm, tmp, nc * sizeof(int32_t));
      }
      break;
    }
    case kQGemmOutF32: {
      const __m256 r0 = to_f32(acc0, e.vs0, e.vbf0, e.vmin, e.vmax);
      const __m256 r1 = to_f32(acc1, e.vs1, e.vbf1, e.vmin, e.vmax);
      float* cm = static_cast<float*>(c);
      if (nc == 16) {
        _mm256_storeu_ps(cm, r0);
        _mm256_storeu_ps(cm + 8, r1);
      } else {
        float tmp[16];
        _mm256_storeu_ps(tmp, r0);
        _mm256_storeu_ps(tmp + 8, r1);
        std::memcpy(cm, tmp, nc * sizeof(float));
      }
      break;
    }
    case kQGemmOutU8: {
      const __m256i q0 = to_u8_i32(acc0, e.vbi0, e.vs0, e.vlo, e.vhi, e.vzp);
      const __m256i q1 = to_u8_i32(acc1, e.vbi1, e.vs1, e.vlo, e.vhi, e.vzp);
      // Values are in [0, 255]: the saturating packs are exact. packs works per 128-bit lane,
      // the permute restores column order.
      const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
      const __m128i b8 = _mm_packus_epi16(_mm256_castsi256_si128(w16),
                                          _mm256_extracti128_si256(w16, 1));
      uint8_t* cm = static_cast<uint8_t*>(c);
      if (nc == 16) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cm), b8);
      } else {
        uint8_t tmp[16];
        _mm_storeu_si128(reinterpret_cast<__m128i*>(tmp), b8);
        std::memcpy(cm, tmp, nc);
      }
      break;
    }
    default:
      assert(false && "unknown QGemmOutKind");
      break;
  }
}

size_t out_elem_bytes(uint32_t kind) { return kind == kQGemmOutU8 ? 1 : 4; }

}  // namespace
}  // namespace fnn
