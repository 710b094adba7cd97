// The f32-accumulating GEMM tile of the avx2 float kernels, shared by the f32-weight and
// f16-weight kernels (f32_gemm_avx2.cc, f32_f16w_gemm_avx2.cc): they differ only in how a
// panel row of W becomes f32 and how many rows share a cache line. Include it only from translation units compiled with AVX2 + FMA (+ F16C).
// Everything lives in an anonymous namespace: each translation unit compiles its own copy with
// its own flags, and the linker never shares it with another ISA's code.
#pragma once

#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

// Bytes of W prefetched ahead of use: the panel streams from DRAM or L3 once per call. Small
// tiles consume it faster and need a longer lead. Measured on Zen 5 with W in DRAM: one row went
// from ~35-41 GB/s at 1.5 KB ahead to ~48-55 GB/s at 8 KB; 12 rows gain nothing past 1.5 KB.
constexpr size_t prefetch_bytes(size_t mr) {
  return mr >= 8 ? 1536 : (12288 / mr > 8192 ? 8192 : 12288 / mr / 64 * 64);
}

// Lane masks for the first nc of 16 columns (maskload/maskstore use the sign bit).
void column_masks(size_t nc, __m256i* lo, __m256i* hi) {
  const __m256i n = _mm256_set1_epi32(static_cast<int>(nc));
  *lo = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  *hi = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
}

// Accumulator set 0 starts from C (a later K block), else from the bias, else zero; sets
// 1..S-1 start at zero. acc[s][m] holds columns 0-7 and 8-15 of row m.
template <size_t MR, size_t S>
[[gnu::always_inline]] inline void init_acc(__m256 (&acc)[S][MR][2], size_t nc, const float* c,
                                            size_t c_stride, const GemmF32Params* params) {
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
}

// Sums the S sets, clamps when kGemmClamp is set and stores nc columns of MR rows.
template <size_t MR, size_t S>
[[gnu::always_inline]] inline void store_acc(__m256 (&acc)[S][MR][2], size_t nc, float* c,
                                             size_t c_stride, const GemmF32Params* params) {
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

template <typename L, size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride,
               const typename L::Elem* w, float* c, size_t c_stride,
               const GemmF32Params* params) {
  constexpr size_t U = S > 4 ? S : 4;  // k steps per main-loop iteration

  const float* ap[MR];
#pragma GCC unroll 8
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m256 acc[S][MR][2];
  init_acc<MR, S>(acc, nc, c, c_stride, params);

  // Row pointers advance with k: constant offsets in the loop body keep GCC to one address
  // register per row (indexing by k made it spill).
  size_t kk = 0;
  for (; kk + U <= k; kk += U) {
#pragma GCC unroll 8
    for (size_t u = 0; u < U; ++u) {
      if (u % L::kRowsPerLine == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(w + u * kGemmNR) + prefetch_bytes(MR),
                     _MM_HINT_T0);
      }
      const __m256 w0 = L::load(w + u * kGemmNR);
      const __m256 w1 = L::load(w + u * kGemmNR + 8);
#pragma GCC unroll 8
      for (size_t m = 0; m < MR; ++m) {
        const __m256 va = _mm256_set1_ps(ap[m][u]);
        acc[u % S][m][0] = _mm256_fmadd_ps(va, w0, acc[u % S][m][0]);
        acc[u % S][m][1] = _mm256_fmadd_ps(va, w1, acc[u % S][m][1]);
      }
    }
    w += U * kGemmNR;
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) ap[m] += U;
  }
  for (; kk < k; ++kk) {
    const __m256 w0 = L::load(w);
    const __m256 w1 = L::load(w + 8);
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m) {
      const __m256 va = _mm256_set1_ps(*ap[m]++);
      acc[0][m][0] = _mm256_fmadd_ps(va, w0, acc[0][m][0]);
      acc[0][m][1] = _mm256_fmadd_ps(va, w1, acc[0][m][1]);
    }
    w += kGemmNR;
  }

  store_acc<MR, S>(acc, nc, c, c_stride, params);
}

// K steps unrolled per tile height (index: rows): short tiles need more independent FMA
// chains to hide the FMA latency.
constexpr size_t kF32TileUnroll[] = {0, 4, 2, 2, 1, 1, 1};

// The whole micro-kernel for a W row type L: L::Elem, L::kRowsPerLine (panel rows per 64-byte
// line, for the prefetch cadence) and L::load (one panel row's 16 columns as f32).
template <typename L>
void gemm_6x16(size_t mr, size_t nc, size_t k, const float* a, size_t a_stride,
               const typename L::Elem* w, float* c, size_t c_stride,
               const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 6);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<6>(mr, [&](auto rows) {
    constexpr size_t R = decltype(rows)::value;
    gemm_tile<L, R, kF32TileUnroll[R]>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace
}  // namespace fnn
