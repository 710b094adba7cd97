// bf16 A x bf16 W GEMM micro-kernel, AVX512-BF16: up to 12 rows x 16 columns, f32 accumulators.
//
// vdpbf16ps multiplies adjacent bf16 pairs and adds both products into one f32 lane: a packed
// pair row ([16][2], 64 bytes) is exactly its operand, and the A pair (a[2j], a[2j+1]) is one
// 32-bit broadcast. 32 multiply-adds per instruction. vdpbf16ps flushes denormal
// inputs and outputs and rounds to nearest even regardless of MXCSR (Intel SDM).
// Latency is ~6 cycles at 2 per cycle here (Zen 5), so ~12 chains must be in flight: small
// tiles split K over S accumulator sets, summed before the store.
#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_avx512.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

constexpr size_t kPairElems = 2 * kGemmNR;  // uint16 elements per pair row

// The A pair (a[0], a[1]) in all 16 lanes.
__m512bh broadcast_pair(const uint16_t* a) {
  uint32_t v;
  std::memcpy(&v, a, sizeof(v));
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(v)));
}

__m512bh load_pair_row(const uint16_t* w) {
  return reinterpret_cast<__m512bh>(_mm512_loadu_si512(w));
}

template <size_t MR, size_t S>
void gemm_tile(size_t nc, size_t k, const uint16_t* a, size_t a_stride, const uint16_t* w,
               float* c, size_t c_stride, const GemmF32Params* params) {
  constexpr size_t U = S > 4 ? S : 4;  // pair rows per main-loop iteration
  const size_t kp = (k + 1) / 2;       // A rows are zero-padded to whole pairs
  const __mmask16 cmask = _cvtu32_mask16((1u << nc) - 1u);

  const uint16_t* ap[MR];
#pragma GCC unroll 16
  for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

  __m512 acc[S][MR];
  init_acc<MR, S>(acc, cmask, c, c_stride, params);

  // Row pointers advance with k: constant offsets in the loop body keep GCC to one address
  // register per row.
  size_t j = 0;
  for (; j + U <= kp; j += U) {
#pragma GCC unroll 8
    for (size_t u = 0; u < U; ++u) {
      _mm_prefetch(reinterpret_cast<const char*>(w + u * kPairElems) + prefetch_bytes(MR),
                   _MM_HINT_T0);
      const __m512bh vw = load_pair_row(w + u * kPairElems);
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
        acc[u % S][m] =
            _mm512_dpbf16_ps(acc[u % S][m], vw, broadcast_pair(ap[m] + 2 * u));
      }
    }
    w += U * kPairElems;
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) ap[m] += 2 * U;
  }
  for (; j < kp; ++j) {
    const __m512bh vw = load_pair_row(w);
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      acc[0][m] = _mm512_dpbf16_ps(acc[0][m], vw, broadcast_pair(ap[m]));
      ap[m] += 2;
    }
    w += kPairElems;
  }

  store_acc<MR, S>(acc, nc, cmask, c, c_stride, params);
}

// K steps unrolled per tile height (index: rows): short tiles need more independent FMA
// chains to hide the FMA latency.
constexpr size_t kBf16TileUnroll[] = {0, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 1};

}  // namespace

void bf16_gemm_ukernel_12x16c2__avx512bf16(size_t mr, size_t nc, size_t k, const uint16_t* a,
                                           size_t a_stride, const uint16_t* w, float* c,
                                           size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 12);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<12>(mr, [&](auto rows) {
    constexpr size_t R = decltype(rows)::value;
    gemm_tile<R, kBf16TileUnroll[R]>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
