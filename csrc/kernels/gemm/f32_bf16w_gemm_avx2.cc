// f32 A x bf16 W GEMM micro-kernel, AVX2 + FMA: up to 6 rows x 16 columns, two ymm
// accumulators per row.
//
// A pair row is 16 columns x (k, k+1) in 64 bytes (two ymm). Each 32-bit lane holds bf16(k) in
// its low half and bf16(k+1) in its high half, so widening is a shift (k) and a mask (k+1).
// 12 accumulators + 2 W + 1 broadcast = 15 of the 16 ymm registers.
// Small tiles split K over S accumulator sets so that at least ~8 FMA chains are in flight
// (FMA latency 4 x 2 pipes); the sets are summed before the store.
#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

// Bytes of W prefetched ahead of use: the panel streams from DRAM or L3 once per call. Small
// tiles consume it faster and need a longer lead. Measured on Zen 5 with W in DRAM: one row went
// from ~35-41 GB/s at 1.5 KB ahead to ~48-55 GB/s at 8 KB; 12 rows gain nothing past 1.5 KB.
constexpr size_t prefetch_bytes(size_t mr) {
  return mr >= 8 ? 1536 : (12288 / mr > 8192 ? 8192 : 12288 / mr / 64 * 64);
}

constexpr size_t kPairElems = 2 * kGemmNR;  // uint16 elements per pair row

// bf16(k) of 8 columns: the low halves of the 8 lanes at w, moved up.
__m256 even8(const uint16_t* w) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)), 16));
}

// bf16(k+1) of 8 columns: the high halves of the 8 lanes at w, low halves cleared. Two shifts
// rather than an AND: a mask constant would take the 16th ymm register and make GCC spill.
__m256 odd8(const uint16_t* w) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16));
}

// Lane masks for the first nc of 16 columns (maskload/maskstore use the sign bit).
void column_masks(size_t nc, __m256i* lo, __m256i* hi) {
  const __m256i n = _mm256_set1_epi32(static_cast<int>(nc));
  *lo = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  *hi = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
}

template <size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint16_t* w, float* c,
               size_t c_stride, const GemmF32Params* params) {
  constexpr size_t UP = 2;  // pair rows (4 k steps) per main-loop iteration
  static_assert(S == 1 || S == 2 || S == 4, "k steps are dealt to the sets round robin");

  const float* ap[MR];
#pragma GCC unroll 8
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m256 acc[S][MR][2];
  if (params->flags & kGemmAccumulate) {
    __m256i lo, hi;
    column_masks(nc, &lo, &hi);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m][0] = _mm256_maskload_ps(c + m * c_stride, lo);
      acc[0][m][1] = _mm256_maskload_ps(c + m * c_stride + 8, hi);
    }
  } else {
    __m256 init0 = _mm256_setzero_ps(), init1 = _mm256_setzero_ps();
    if (params->bias != nullptr) {
      init0 = _mm256_loadu_ps(params->bias);
      init1 = _mm256_loadu_ps(params->bias + 8);
    }
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m][0] = init0;
      acc[0][m][1] = init1;
    }
  }
#pragma GCC unroll 8
  for (size_t s = 1; s < S; ++s) {
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) acc[s][m][0] = acc[s][m][1] = _mm256_setzero_ps();
  }

  // Row pointers advance with k (constant offsets in the loop body keep GCC to one address
  // register per row; indexing by k made it spill).
  size_t kk = 0;
  for (; kk + 2 * UP <= k; kk += 2 * UP) {
#pragma GCC unroll 8
    for (size_t u = 0; u < UP; ++u) {
      _mm_prefetch(reinterpret_cast<const char*>(w + u * kPairElems) + prefetch_bytes(MR),
                   _MM_HINT_T0);
      const uint16_t* wp = w + u * kPairElems;
      {
        const __m256 w0 = even8(wp), w1 = even8(wp + kGemmNR);
        const size_t s = (2 * u) % S;
#pragma GCC unroll 8
        for (size_t m = 0; m < MR; ++m) {
          const __m256 va = _mm256_set1_ps(ap[m][2 * u]);
          acc[s][m][0] = _mm256_fmadd_ps(va, w0, acc[s][m][0]);
          acc[s][m][1] = _mm256_fmadd_ps(va, w1, acc[s][m][1]);
        }
      }
      {
        const __m256 w0 = odd8(wp), w1 = odd8(wp + kGemmNR);
        const size_t s = (2 * u + 1) % S;
#pragma GCC unroll 8
        for (size_t m = 0; m < MR; ++m) {
          const __m256 va = _mm256_set1_ps(ap[m][2 * u + 1]);
          acc[s][m][0] = _mm256_fmadd_ps(va, w0, acc[s][m][0]);
          acc[s][m][1] = _mm256_fmadd_ps(va, w1, acc[s][m][1]);
        }
      }
    }
    w += UP * kPairElems;
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) ap[m] += 2 * UP;
  }
  for (; kk + 2 <= k; kk += 2) {
    const __m256 w0 = even8(w), w1 = even8(w + kGemmNR);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      const __m256 va = _mm256_set1_ps(ap[m][0]);
      acc[0][m][0] = _mm256_fmadd_ps(va, w0, acc[0][m][0]);
      acc[0][m][1] = _mm256_fmadd_ps(va, w1, acc[0][m][1]);
    }
    const __m256 w2 = odd8(w), w3 = odd8(w + kGemmNR);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      const __m256 va = _mm256_set1_ps(ap[m][1]);
      acc[1 % S][m][0] = _mm256_fmadd_ps(va, w2, acc[1 % S][m][0]);
      acc[1 % S][m][1] = _mm256_fmadd_ps(va, w3, acc[1 % S][m][1]);
    }
    w += kPairElems;
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) ap[m] += 2;
  }
  if (kk < k) {
    // Odd k: the last pair's second half is padding and A has no element there.
    const __m256 w0 = even8(w), w1 = even8(w + kGemmNR);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      const __m256 va = _mm256_set1_ps(ap[m][0]);
      acc[0][m][0] = _mm256_fmadd_ps(va, w0, acc[0][m][0]);
      acc[0][m][1] = _mm256_fmadd_ps(va, w1, acc[0][m][1]);
    }
  }

#pragma GCC unroll 8
  for (size_t s = 1; s < S; ++s) {
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m][0] = _mm256_add_ps(acc[0][m][0], acc[s][m][0]);
      acc[0][m][1] = _mm256_add_ps(acc[0][m][1], acc[s][m][1]);
    }
  }

  if (params->flags & kGemmClamp) {
    const __m256 vmin = _mm256_set1_ps(params->min);
    const __m256 vmax = _mm256_set1_ps(params->max);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      // max/min return the second operand when either is NaN: a NaN result stays NaN.
      acc[0][m][0] = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc[0][m][0]));
      acc[0][m][1] = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc[0][m][1]));
    }
  }
  if (nc == kGemmNR) {
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      _mm256_storeu_ps(c + m * c_stride, acc[0][m][0]);
      _mm256_storeu_ps(c + m * c_stride + 8, acc[0][m][1]);
    }
  } else {
    __m256i lo, hi;
    column_masks(nc, &lo, &hi);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      _mm256_maskstore_ps(c + m * c_stride, lo, acc[0][m][0]);
      _mm256_maskstore_ps(c + m * c_stride + 8, hi, acc[0][m][1]);
    }
  }
}

}  // namespace

void f32_bf16w_gemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t k, const float* a,
                                       size_t a_stride, const uint16_t* w, float* c,
                                       size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 6);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  switch (mr) {
    case 1: return gemm_tile<1, 4>(nc, k, a, a_stride, w, c, c_stride, params);
    case 2: return gemm_tile<2, 2>(nc, k, a, a_stride, w, c, c_stride, params);
    case 3: return gemm_tile<3, 2>(nc, k, a, a_stride, w, c, c_stride, params);
    case 4: return gemm_tile<4, 1>(nc, k, a, a_stride, w, c, c_stride, params);
    case 5: return gemm_tile<5, 1>(nc, k, a, a_stride, w, c, c_stride, params);
    default: return gemm_tile<6, 1>(nc, k, a, a_stride, w, c, c_stride, params);
  }
}

}  // namespace fnn
