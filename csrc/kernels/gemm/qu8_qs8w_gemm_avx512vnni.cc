// u8 A x s8 W int8 GEMM, AVX512-VNNI: per group of 4 k, one 64-byte load of the panel row
// (16 columns x 4 k), and per row one broadcast of 4 A bytes and one vpdpbusd. vpdpbusd adds
// four u8 x s8 products straight into int32 without saturation, so the result is exact.
#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/gemm/qu8_qs8w_gemm_epilogue_avx512.h"

namespace fnn {
namespace {

constexpr size_t kMR = 12;

template <size_t M>
void gemm_rows(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w,
               void* c, size_t c_stride, const QGemmParams& p) {
  // A short tile splits K over U interleaved accumulator sets: one vpdpbusd chain per row
  // would wait on the previous vpdpbusd's latency (M = 1 ran at a third of the M = 4 rate).
  constexpr size_t U = M >= 8 ? 1 : M >= 4 ? 2 : 4;
  // Row m is base[m / 3] + (m % 3) * a_stride: four moving pointers and two strides instead
  // of twelve pointers, so no general register spills.
  const uint8_t* base[4];
#pragma GCC unroll 4
  for (size_t b = 0; b < 4; ++b) base[b] = 3 * b < M ? a + 3 * b * a_stride : a;
  const size_t a_stride2 = 2 * a_stride;
  __m512i acc[U * M];
#pragma GCC unroll 16
  for (size_t i = 0; i < U * M; ++i) acc[i] = _mm512_setzero_si512();
  if (k % 4 != 0) {
    // The K tail goes first (integer sums do not depend on order), so the main loop runs
    // straight into the epilogue: with the tail after it, GCC's partial PRE (-O3) and
    // not-unrolled epilogue loops (-O2) made it copy every accumulator twice per step.
    const size_t kt = k - k % 4;
    const __m512i vw = _mm512_loadu_si512(w + kt * 16);
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + kt + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      acc[m] = _mm512_dpbusd_epi32(acc[m], _mm512_set1_epi32(load_a_tail(am, k % 4)), vw);
    }
  }
  // Likewise the k / 4 % U groups the unrolled loop would leave over.
  for (size_t g = k / 4 % U; g != 0; --g) {
    const __m512i vw = _mm512_loadu_si512(w);
    w += 64;
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      acc[m] = _mm512_dpbusd_epi32(acc[m], _mm512_set1_epi32(load_a4(am)), vw);
    }
#pragma GCC unroll 4
    for (size_t b = 0; b < 4; ++b) base[b] += 4;
  }
  for (size_t g = k / 4 / U; g != 0; --g) {
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) {
      const __m512i vw = _mm512_loadu_si512(w + 64 * u);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m) {
        const uint8_t* am = base[m / 3] + 4 * u + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
        acc[u * M + m] = _mm512_dpbusd_epi32(acc[u * M + m], _mm512_set1_epi32(load_a4(am)), vw);
      }
    }
    w += 64 * U;
#pragma GCC unroll 4
    for (size_t b = 0; b < 4; ++b) base[b] += 4 * U;
  }
  // An empty asm that "changes" the accumulators keeps GCC's optimizers from reaching from the
  // epilogue into the loop (seen as two copies of every accumulator per step).
#pragma GCC unroll 16
  for (size_t i = 0; i < U * M; ++i) __asm__("" : "+v"(acc[i]));
#pragma GCC unroll 16
  for (size_t i = M; i < U * M; ++i) acc[i % M] = _mm512_add_epi32(acc[i % M], acc[i]);
  store_rows<M>(acc, nc, c, c_stride, p);
}

}  // namespace

void qu8_qs8w_gemm_ukernel_12x16c4__avx512vnni(size_t mr, size_t nc, size_t k, const uint8_t* a,
                                               size_t a_stride, const int8_t* w, void* c,
                                               size_t c_stride, const QGemmParams* params) {
  assert(mr >= 1 && mr <= kMR);
  assert(nc >= 1 && nc <= 16);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  // One instantiation per row count: a short tile (M = 1 GEMV, the M % 12 remainder) does
  // only its own rows' work and reads only its own rows.
  dispatch_mr<12>(mr, [&](auto rows) { gemm_rows<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, *params); });
}

}  // namespace fnn
