// u8 A x s8 W int8 GEMM, AVX-512BW without VNNI, exact. vpmaddubsw would add two u8 x s8
// products into a saturating int16 (255 * 127 * 2 > 32767), so instead W bytes are
// sign-extended to int16 (vpmovsxbw), the 4 A bytes of a K group are zero-extended to int16
// (vpunpcklbw with zero), and vpmaddwd sums pairs exactly into int32. A column's accumulator
// lane pair holds (k0,k1) and (k2,k3) partial sums; the epilogue adds the pairs.
#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/gemm/qu8_qs8w_gemm_epilogue_avx512.h"

namespace fnn {
namespace {

constexpr size_t kMR = 8;

// acc0 lanes (2j, 2j+1) hold column j's two partial sums, acc1 those of column 8 + j.
__m512i reduce_pairs(__m512i acc0, __m512i acc1) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return _mm512_add_epi32(_mm512_permutex2var_epi32(acc0, even, acc1),
                          _mm512_permutex2var_epi32(acc0, odd, acc1));
}

template <size_t M>
void gemm_rows(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w,
               void* c, size_t c_stride, const QGemmParams& p) {
  // Row m is base[m / 3] + (m % 3) * a_stride: three moving pointers and two strides.
  const uint8_t* base[3];
#pragma GCC unroll 3
  for (size_t b = 0; b < 3; ++b) base[b] = 3 * b < M ? a + 3 * b * a_stride : a;
  const size_t a_stride2 = 2 * a_stride;
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc0[M], acc1[M];
#pragma GCC unroll 16
  for (size_t m = 0; m < M; ++m) acc0[m] = acc1[m] = zero;
  if (k % 4 != 0) {
    // The K tail goes first (integer sums do not depend on order), so the main loop runs
    // straight into the epilogue.
    const size_t kt = k - k % 4;
    const __m512i w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kt * 16)));
    const __m512i w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kt * 16 + 32)));
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + kt + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      const __m512i va = _mm512_unpacklo_epi8(_mm512_set1_epi32(load_a_tail(am, k % 4)), zero);
      acc0[m] = _mm512_add_epi32(acc0[m], _mm512_madd_epi16(w0, va));
      acc1[m] = _mm512_add_epi32(acc1[m], _mm512_madd_epi16(w1, va));
    }
  }
  for (size_t kg = k / 4; kg != 0; --kg) {
    // Columns 0-7 and 8-15, each as 8 x (k0, k1, k2, k3) int16.
    const __m512i w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
    const __m512i w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32)));
    w += 64;
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) {
      const uint8_t* am = base[m / 3] + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
      // (a0, a1, a2, a3) as int16, repeated in every 64-bit lane.
      const __m512i va = _mm512_unpacklo_epi8(_mm512_set1_epi32(load_a4(am)), zero);
      acc0[m] = _mm512_add_epi32(acc0[m], _mm512_madd_epi16(w0, va));
      acc1[m] = _mm512_add_epi32(acc1[m], _mm512_madd_epi16(w1, va));
    }
#pragma GCC unroll 3
    for (size_t b = 0; b < 3; ++b) base[b] += 4;
  }
  // An empty asm that "changes" the accumulators: without it GCC -O3's partial PRE reaches
  // from the epilogue into the loop and copies every accumulator each step (and spills).
#pragma GCC unroll 16
  for (size_t m = 0; m < M; ++m) __asm__("" : "+v"(acc0[m]), "+v"(acc1[m]));
  __m512i acc[M];
#pragma GCC unroll 16
  for (size_t m = 0; m < M; ++m) acc[m] = reduce_pairs(acc0[m], acc1[m]);
  store_rows<M>(acc, nc, c, c_stride, p);
}

}  // namespace

void qu8_qs8w_gemm_ukernel_8x16c4__avx512(size_t mr, size_t nc, size_t k, const uint8_t* a,
                                          size_t a_stride, const int8_t* w, void* c,
                                          size_t c_stride, const QGemmParams* params) {
  assert(mr >= 1 && mr <= kMR);
  assert(nc >= 1 && nc <= 16);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  // One instantiation per row count: a short tile does only its own rows' work and reads
  // only its own rows.
  dispatch_mr<8>(mr, [&](auto rows) { gemm_rows<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, *params); });
}

}  // namespace fnn
