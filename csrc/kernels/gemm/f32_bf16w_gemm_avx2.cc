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

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_avx2.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

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

template <size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint16_t* w, float* c,
               size_t c_stride, const GemmF32Params* params) {
  constexpr size_t UP = 2;  // pair rows (4 k steps) per main-loop iteration
  static_assert(S == 1 || S == 2 || S == 4, "k steps are dealt to the sets round robin");

  const float* ap[MR];
#pragma GCC unroll 8
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m256 acc[S][MR][2];
  init_acc<MR, S>(acc, nc, c, c_stride, params);

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

  store_acc<MR, S>(acc, nc, c, c_stride, params);
}

// K steps unrolled per tile height (index: rows): short tiles need more independent FMA
// chains to hide the FMA latency.
constexpr size_t kBf16wTileUnroll[] = {0, 4, 2, 2, 1, 1, 1};

}  // namespace

void f32_bf16w_gemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t k, const float* a,
                                       size_t a_stride, const uint16_t* w, float* c,
                                       size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 6);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<6>(mr, [&](auto rows) {
    constexpr size_t R = decltype(rows)::value;
    gemm_tile<R, kBf16wTileUnroll[R]>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
