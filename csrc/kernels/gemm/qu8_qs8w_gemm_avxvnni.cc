// u8 A x s8 W int8 GEMM, AVX-VNNI (VEX-encoded vpdpbusd on ymm; AVX2 + AVX-VNNI, no AVX-512):
// per group of 4 k, the 64-byte panel row is two 32-byte loads (columns 0-7 and 8-15, 4 k
// each), and per row one broadcast of 4 A bytes and two vpdpbusd. vpdpbusd adds four u8 x s8
// products straight into int32 without saturation, so the result is exact. 6 rows x 2
// accumulators + 2 W + 1 broadcast = 15 of the 16 ymm registers.
#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/gemm/qu8_qs8w_gemm_epilogue_avx2.h"

namespace fnn {
namespace {

constexpr size_t kMR = 6;

// A W register for one K group. The empty asm makes it a register value: otherwise GCC folds
// the load into every row's vpdpbusd (seen for M = 1, 2), and the load ports, not vpdpbusd,
// set the rate.
__m256i load_w(const int8_t* p) {
  __m256i v = load8i(p);
  __asm__("" : "+v"(v));
  return v;
}

__m256i dpbusd(__m256i acc, __m256i a_u8, __m256i w_s8) {
  return _mm256_dpbusd_avx_epi32(acc, a_u8, w_s8);
}

template <size_t M>
void gemm_rows(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w,
               void* c, size_t c_stride, const QGemmParams& p) {
  // A short tile splits K over U interleaved accumulator sets so there are enough independent
  // vpdpbusd chains to hide its latency (2 * U * M of them, at most 12 registers).
  constexpr size_t U = M == 1 ? 4 : M <= 3 ? 2 : 1;
  // Row m is base[m / 3] + (m % 3) * a_stride: two moving pointers and two strides.
  const uint8_t* base[2];
  base[0] = a;
  base[1] = M > 3 ? a + 3 * a_stride : a;
  const size_t a_stride2 = 2 * a_stride;
  __m256i acc0[U * M], acc1[U * M];
#pragma GCC unroll 12
  for (size_t i = 0; i < U * M; ++i) acc0[i] = acc1[i] = _mm256_setzero_si256();
  if (k % 4 != 0) {
    // The K tail goes first (integer sums do not depend on order), so the main loop runs
    // straight into the epilogue.
    const size_t kt = k - k % 4;
    const __m256i w0 = load_w(w + kt * 16);
    const __m256i w1 = load_w(w + kt * 16 + 32);
#pragma GCC unroll 6
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + kt + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      const __m256i va = _mm256_set1_epi32(load_a_tail(am, k % 4));
      acc0[m] = dpbusd(acc0[m], va, w0);
      acc1[m] = dpbusd(acc1[m], va, w1);
    }
  }
  // Likewise the k / 4 % U groups the unrolled loop would leave over.
  for (size_t g = k / 4 % U; g != 0; --g) {
    const __m256i w0 = load_w(w);
    const __m256i w1 = load_w(w + 32);
    w += 64;
#pragma GCC unroll 6
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      const __m256i va = _mm256_set1_epi32(load_a4(am));
      acc0[m] = dpbusd(acc0[m], va, w0);
      acc1[m] = dpbusd(acc1[m], va, w1);
    }
    base[0] += 4;
    base[1] += 4;
  }
  for (size_t g = k / 4 / U; g != 0; --g) {
#pragma GCC unroll 4
    for (size_t u = 0; u < U; ++u) {
      const __m256i w0 = load_w(w + 64 * u);
      const __m256i w1 = load_w(w + 64 * u + 32);
#pragma GCC unroll 6
      for (size_t m = 0; m < M; ++m) {
        const uint8_t* am =
            base[m / 3] + 4 * u + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
        const __m256i va = _mm256_set1_epi32(load_a4(am));
        acc0[u * M + m] = dpbusd(acc0[u * M + m], va, w0);
        acc1[u * M + m] = dpbusd(acc1[u * M + m], va, w1);
      }
    }
    w += 64 * U;
    base[0] += 4 * U;
    base[1] += 4 * U;
  }
  // An empty asm that "changes" the accumulators keeps GCC's optimizers from reaching from the
  // epilogue into the loop (seen as copies of every accumulator per step).
#pragma GCC unroll 12
  for (size_t i = 0; i < U * M; ++i) __asm__("" : "+v"(acc0[i]), "+v"(acc1[i]));
#pragma GCC unroll 12
  for (size_t i = M; i < U * M; ++i) {
    acc0[i % M] = _mm256_add_epi32(acc0[i % M], acc0[i]);
    acc1[i % M] = _mm256_add_epi32(acc1[i % M], acc1[i]);
  }

  const Epilogue e = make_epilogue(p);
  const size_t row_bytes = c_stride * out_elem_bytes(p.out_kind);
#pragma GCC unroll 6
  for (size_t m = 0; m < M; ++m) {
    store_row(e, acc0[m], acc1[m], nc, static_cast<char*>(c) + m * row_bytes);
  }
}

}  // namespace

void qu8_qs8w_gemm_ukernel_6x16c4__avxvnni(size_t mr, size_t nc, size_t k, const uint8_t* a,
                                           size_t a_stride, const int8_t* w, void* c,
                                           size_t c_stride, const QGemmParams* params) {
  assert(mr >= 1 && mr <= kMR);
  assert(nc >= 1 && nc <= 16);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  // One instantiation per row count: a short tile (M = 1 GEMV, the M % 6 remainder) does
  // only its own rows' work and reads only its own rows.
  dispatch_mr<6>(mr, [&](auto rows) { gemm_rows<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, *params); });
}

}  // namespace fnn
