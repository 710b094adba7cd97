// u8 A x s8 W int8 GEMM, AVX2, exact: up to 4 rows x 16 columns. vpmaddubsw would add two
// u8 x s8 products into a saturating int16 (255 * 127 * 2 > 32767), so every byte is widened
// to int16 and vpmaddwd sums pairs exactly into int32. Per K group the panel row (16 columns x
// k0..k3) is split in registers into "even" words (k0, k2) and "odd" words (k1, k3) of each
// column, and the broadcast A bytes likewise into (a0, a2) and (a1, a3):
//   madd(even, (a0, a2)) + madd(odd, (a1, a3)) = a0 w0 + a1 w1 + a2 w2 + a3 w3
// per column, already in column order: 2 accumulators of 8 columns per row, no reduction.
#include <immintrin.h>

#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"
#include "kernels/common/vec16_avx2.h"

namespace fnn {
namespace {

struct Avx2MaddDot : QDotInOrder<Avx2Vec16> {
  using V = Avx2Vec16;
  using Acc = __m256i;
  static constexpr size_t kAcc = 2;
  static constexpr size_t sets(size_t) { return 1; }
  // int16 (k0, k2) and (k1, k3) of each column, sign-extended: columns 0-7 and 8-15.
  struct W {
    __m256i even0, odd0, even1, odd1;
  };
  static W load_w(const int8_t* p) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    return W{_mm256_srai_epi16(_mm256_slli_epi16(w0, 8), 8), _mm256_srai_epi16(w0, 8),
             _mm256_srai_epi16(_mm256_slli_epi16(w1, 8), 8), _mm256_srai_epi16(w1, 8)};
  }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    // int16 (a0, a2) and (a1, a3), zero-extended, in every 32-bit lane.
    const __m256i va = _mm256_set1_epi32(a4);
    const __m256i vae = _mm256_and_si256(va, _mm256_set1_epi32(0x00FF00FF));
    const __m256i vao = _mm256_srli_epi16(va, 8);
    acc[0] = _mm256_add_epi32(acc[0], _mm256_add_epi32(_mm256_madd_epi16(w.even0, vae),
                                                       _mm256_madd_epi16(w.odd0, vao)));
    acc[1] = _mm256_add_epi32(acc[1], _mm256_add_epi32(_mm256_madd_epi16(w.even1, vae),
                                                       _mm256_madd_epi16(w.odd1, vao)));
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_4x16c4__avx2, uint8_t, int8_t, void, QGemmParams,
                        Qu8Qs8wGemmTile<Avx2MaddDot>)

}  // namespace fnn
