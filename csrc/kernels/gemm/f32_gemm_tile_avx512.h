// The f32-accumulating GEMM tile of the avx512 float kernels, shared by the f32-weight and
// f16-weight kernels (f32_gemm_avx512.cc, f32_f16w_gemm_avx512.cc): they differ only in how a
// panel row of W becomes f32 and how many rows share a cache line. Include it only from translation units compiled with AVX-512 F/BW/VL/DQ.
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

// Accumulator set 0 starts from C (a later K block), else from the bias, else zero; sets
// 1..S-1 start at zero.
template <size_t MR, size_t S>
[[gnu::always_inline]] inline void init_acc(__m512 (&acc)[S][MR], __mmask16 cmask,
                                            const float* c, size_t c_stride,
                                            const GemmF32Params* params) {
  if (params->flags & kGemmAccumulate) {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) acc[0][m] = _mm512_maskz_loadu_ps(cmask, c + m * c_stride);
  } else {
    const __m512 init = params->bias != nullptr ? _mm512_loadu_ps(params->bias)
                                                : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) acc[0][m] = init;
  }
#pragma GCC unroll 8
  for (size_t s = 1; s < S; ++s) {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) acc[s][m] = _mm512_setzero_ps();
  }
}

// Sums the S sets, clamps when kGemmClamp is set and stores nc columns of MR rows.
template <size_t MR, size_t S>
[[gnu::always_inline]] inline void store_acc(__m512 (&acc)[S][MR], size_t nc, __mmask16 cmask,
                                             float* c, size_t c_stride,
                                             const GemmF32Params* params) {
  if (S >= 4) {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m] = _mm512_add_ps(acc[0][m], acc[2 % S][m]);
      acc[1 % S][m] = _mm512_add_ps(acc[1 % S][m], acc[3 % S][m]);
    }
  }
  if (S >= 2) {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) acc[0][m] = _mm512_add_ps(acc[0][m], acc[1 % S][m]);
  }

  if (params->flags & kGemmClamp) {
    const __m512 vmin = _mm512_set1_ps(params->min);
    const __m512 vmax = _mm512_set1_ps(params->max);
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      // max/min return the second operand when either is NaN: a NaN result stays NaN.
      acc[0][m] = _mm512_min_ps(vmax, _mm512_max_ps(vmin, acc[0][m]));
    }
  }
  if (nc == kGemmNR) {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) _mm512_storeu_ps(c + m * c_stride, acc[0][m]);
  } else {
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) _mm512_mask_storeu_ps(c + m * c_stride, cmask, acc[0][m]);
  }
}

template <typename L, size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride,
               const typename L::Elem* w, float* c, size_t c_stride,
               const GemmF32Params* params) {
  constexpr size_t U = S > 4 ? S : 4;  // k steps per main-loop iteration
  const __mmask16 cmask = _cvtu32_mask16((1u << nc) - 1u);

  const float* ap[MR];
#pragma GCC unroll 16
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m512 acc[S][MR];
  init_acc<MR, S>(acc, cmask, c, c_stride, params);

  // Row pointers advance with k: constant offsets in the loop body keep GCC to one address
  // register per row (indexing by k made it spill on the 16-register AVX2 kernels).
  size_t kk = 0;
  for (; kk + U <= k; kk += U) {
#pragma GCC unroll 8
    for (size_t u = 0; u < U; ++u) {
      if (u % L::kRowsPerLine == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(w + u * kGemmNR) + prefetch_bytes(MR),
                     _MM_HINT_T0);
      }
      const __m512 vw = L::load(w + u * kGemmNR);
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
        acc[u % S][m] = _mm512_fmadd_ps(_mm512_set1_ps(ap[m][u]), vw, acc[u % S][m]);
      }
    }
    w += U * kGemmNR;
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) ap[m] += U;
  }
  for (; kk < k; ++kk) {
    const __m512 vw = L::load(w);
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m] = _mm512_fmadd_ps(_mm512_set1_ps(*ap[m]++), vw, acc[0][m]);
    }
    w += kGemmNR;
  }

  store_acc<MR, S>(acc, nc, cmask, c, c_stride, params);
}

// K steps unrolled per tile height (index: rows): short tiles need more independent FMA
// chains to hide the FMA latency.
constexpr size_t kF32TileUnroll[] = {0, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1};

// The whole micro-kernel for a W row type L: L::Elem, L::kRowsPerLine (panel rows per 64-byte
// line, for the prefetch cadence) and L::load (one panel row's 16 columns as f32).
template <typename L>
void gemm_12x16(size_t mr, size_t nc, size_t k, const float* a, size_t a_stride,
                const typename L::Elem* w, float* c, size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 12);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<12>(mr, [&](auto rows) {
    constexpr size_t R = decltype(rows)::value;
    gemm_tile<L, R, kF32TileUnroll[R]>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace
}  // namespace fnn
