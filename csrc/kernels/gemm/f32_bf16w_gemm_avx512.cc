// f32 A x bf16 W GEMM micro-kernel, AVX-512: up to 12 rows x 16 columns, one zmm accumulator
// per row.
//
// One 64-byte load brings a pair row: 16 columns x (k, k+1). Each 32-bit lane holds bf16(k) in
// its low half and bf16(k+1) in its high half, so widening is a shift (k) and a mask (k+1).
// Small tiles split K over S accumulator sets so that at least ~8 FMA chains are in flight
// (FMA latency 4 x 2 pipes); the sets are summed before the store.
#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_avx512.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

constexpr size_t kPairElems = 2 * kGemmNR;  // uint16 elements per pair row

template <size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint16_t* w,
               float* c, size_t c_stride, const GemmF32Params* params) {
  constexpr size_t UP = 2;  // pair rows (4 k steps) per main-loop iteration
  static_assert(S == 1 || S == 2 || S == 4, "k steps are dealt to the sets round robin");
  const __mmask16 cmask = _cvtu32_mask16((1u << nc) - 1u);
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));

  const float* ap[MR];
#pragma GCC unroll 16
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m512 acc[S][MR];
  init_acc<MR, S>(acc, cmask, c, c_stride, params);

  // Row pointers advance with k: constant offsets in the loop body keep GCC to one address
  // register per row (indexing by k made it spill on the 16-register AVX2 kernels).
  size_t kk = 0;
  for (; kk + 2 * UP <= k; kk += 2 * UP) {
#pragma GCC unroll 8
    for (size_t u = 0; u < UP; ++u) {
      _mm_prefetch(reinterpret_cast<const char*>(w + u * kPairElems) + prefetch_bytes(MR),
                   _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(w + u * kPairElems);
      const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
        acc[(2 * u) % S][m] =
            _mm512_fmadd_ps(_mm512_set1_ps(ap[m][2 * u]), w0, acc[(2 * u) % S][m]);
      }
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
        acc[(2 * u + 1) % S][m] =
            _mm512_fmadd_ps(_mm512_set1_ps(ap[m][2 * u + 1]), w1, acc[(2 * u + 1) % S][m]);
      }
    }
    w += UP * kPairElems;
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) ap[m] += 2 * UP;
  }
  for (; kk + 2 <= k; kk += 2) {
    const __m512i v = _mm512_loadu_si512(w);
    const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m] = _mm512_fmadd_ps(_mm512_set1_ps(ap[m][0]), w0, acc[0][m]);
    }
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[1 % S][m] = _mm512_fmadd_ps(_mm512_set1_ps(ap[m][1]), w1, acc[1 % S][m]);
    }
    w += kPairElems;
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) ap[m] += 2;
  }
  if (kk < k) {
    // Odd k: the pair's second half is padding and A has no element there.
    const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w), 16));
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m] = _mm512_fmadd_ps(_mm512_set1_ps(ap[m][0]), w0, acc[0][m]);
    }
  }

  store_acc<MR, S>(acc, nc, cmask, c, c_stride, params);
}

// K steps unrolled per tile height (index: rows): short tiles need more independent FMA
// chains to hide the FMA latency.
constexpr size_t kBf16wTileUnroll[] = {0, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1};

}  // namespace

void f32_bf16w_gemm_ukernel_12x16__avx512(size_t mr, size_t nc, size_t k, const float* a,
                                          size_t a_stride, const uint16_t* w, float* c,
                                          size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 12);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<12>(mr, [&](auto rows) {
    constexpr size_t R = decltype(rows)::value;
    gemm_tile<R, kBf16wTileUnroll[R]>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
