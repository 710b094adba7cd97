// u8 A x s8 W int8 GEMM, AVX2, exact. vpmaddubsw would add two u8 x s8 products into a
// saturating int16 (255 * 127 * 2 > 32767), so every byte is widened to int16 and vpmaddwd
// sums pairs exactly into int32. Per K group the panel row (16 columns x k0..k3) is split
// in registers into "even" words (k0, k2) and "odd" words (k1, k3) of each column, and the
// broadcast A bytes likewise into (a0, a2) and (a1, a3):
//   madd(even, (a0, a2)) + madd(odd, (a1, a3)) = a0 w0 + a1 w1 + a2 w2 + a3 w3
// per column, already in column order: 4 rows x 2 accumulators of 8 columns, no reduction.
#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/gemm/qu8_qs8w_gemm_epilogue_avx2.h"

namespace fnn {
namespace {

constexpr size_t kMR = 4;

template <size_t M>
void gemm_rows(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w,
               void* c, size_t c_stride, const QGemmParams& p) {
  const uint8_t* a0 = a;
  const uint8_t* a1 = M > 1 ? a + a_stride : a;
  const uint8_t* a2 = M > 2 ? a + 2 * a_stride : a;
  const uint8_t* a3 = M > 3 ? a + 3 * a_stride : a;
  const __m256i vmask = _mm256_set1_epi32(0x00FF00FF);
  __m256i acc0[M], acc1[M];
#pragma GCC unroll 4
  for (size_t m = 0; m < M; ++m) acc0[m] = acc1[m] = _mm256_setzero_si256();

  // The K tail goes first (integer sums do not depend on order), so the main loop runs
  // straight into the epilogue.
  if (k % 4 != 0) {
    const size_t kt = k - k % 4;
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kt * 16));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kt * 16 + 32));
    const __m256i we0 = _mm256_srai_epi16(_mm256_slli_epi16(w0, 8), 8);
    const __m256i wo0 = _mm256_srai_epi16(w0, 8);
    const __m256i we1 = _mm256_srai_epi16(_mm256_slli_epi16(w1, 8), 8);
    const __m256i wo1 = _mm256_srai_epi16(w1, 8);
    const uint8_t* ar[4] = {a0, a1, a2, a3};
#pragma GCC unroll 4
    for (size_t m = 0; m < M; ++m) {
      const __m256i va = _mm256_set1_epi32(load_a_tail(ar[m] + kt, k % 4));
      const __m256i vae = _mm256_and_si256(va, vmask);
      const __m256i vao = _mm256_srli_epi16(va, 8);
      acc0[m] = _mm256_add_epi32(acc0[m], _mm256_add_epi32(_mm256_madd_epi16(we0, vae),
                                                           _mm256_madd_epi16(wo0, vao)));
      acc1[m] = _mm256_add_epi32(acc1[m], _mm256_add_epi32(_mm256_madd_epi16(we1, vae),
                                                           _mm256_madd_epi16(wo1, vao)));
    }
  }
  for (size_t kg = k / 4; kg != 0; --kg) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
    w += 64;
    // int16 (k0, k2) and (k1, k3) of each column, sign-extended.
    const __m256i we0 = _mm256_srai_epi16(_mm256_slli_epi16(w0, 8), 8);
    const __m256i wo0 = _mm256_srai_epi16(w0, 8);
    const __m256i we1 = _mm256_srai_epi16(_mm256_slli_epi16(w1, 8), 8);
    const __m256i wo1 = _mm256_srai_epi16(w1, 8);
    const uint8_t* ar[4] = {a0, a1, a2, a3};
#pragma GCC unroll 4
    for (size_t m = 0; m < M; ++m) {
      // int16 (a0, a2) and (a1, a3), zero-extended, in every 32-bit lane.
      const __m256i va = _mm256_set1_epi32(load_a4(ar[m]));
      const __m256i vae = _mm256_and_si256(va, vmask);
      const __m256i vao = _mm256_srli_epi16(va, 8);
      acc0[m] = _mm256_add_epi32(acc0[m], _mm256_add_epi32(_mm256_madd_epi16(we0, vae),
                                                           _mm256_madd_epi16(wo0, vao)));
      acc1[m] = _mm256_add_epi32(acc1[m], _mm256_add_epi32(_mm256_madd_epi16(we1, vae),
                                                           _mm256_madd_epi16(wo1, vao)));
    }
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
  }
  // An empty asm that "changes" the accumulators keeps GCC's optimizers from reaching from the
  // epilogue into the loop (seen as copies of every accumulator per step).
#pragma GCC unroll 4
  for (size_t m = 0; m < M; ++m) __asm__("" : "+v"(acc0[m]), "+v"(acc1[m]));

  const Epilogue e = make_epilogue(p);
  const size_t row_bytes = c_stride * out_elem_bytes(p.out_kind);
#pragma GCC unroll 4
  for (size_t m = 0; m < M; ++m) {
    store_row(e, acc0[m], acc1[m], nc, static_cast<char*>(c) + m * row_bytes);
  }
}

}  // namespace

void qu8_qs8w_gemm_ukernel_4x16c4__avx2(size_t mr, size_t nc, size_t k, const uint8_t* a,
                                        size_t a_stride, const int8_t* w, void* c,
                                        size_t c_stride, const QGemmParams* params) {
  assert(mr >= 1 && mr <= kMR);
  assert(nc >= 1 && nc <= 16);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  // One instantiation per row count: a short tile does only its own rows' work and reads
  // only its own rows.
  dispatch_mr<4>(mr, [&](auto rows) { gemm_rows<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, *params); });
}

}  // namespace fnn
