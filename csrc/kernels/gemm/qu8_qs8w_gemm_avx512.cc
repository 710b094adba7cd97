// u8 A x s8 W int8 GEMM, AVX-512BW without VNNI, exact: up to 8 rows x 16 columns.
// vpmaddubsw would add two u8 x s8 products into a saturating int16 (255 * 127 * 2 > 32767),
// so instead W bytes are sign-extended to int16 (vpmovsxbw), the 4 A bytes of a K group are
// zero-extended to int16 (vpunpcklbw with zero), and vpmaddwd sums pairs exactly into int32.
// A column's accumulator lane pair holds (k0,k1) and (k2,k3) partial sums; finish adds the
// pairs.
#include <immintrin.h>

#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"
#include "kernels/common/vec16_avx512.h"

namespace fnn {
namespace {

struct Avx512MaddDot {
  using V = Avx512Vec16;
  using Acc = __m512i;
  static constexpr size_t kAcc = 2;
  static constexpr size_t sets(size_t) { return 1; }
  // Columns 0-7 and 8-15, each as 8 x (k0, k1, k2, k3) int16.
  struct W {
    __m512i w0, w1;
  };
  static W load_w(const int8_t* p) {
    return W{_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))),
             _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)))};
  }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    // (a0, a1, a2, a3) as int16, repeated in every 64-bit lane.
    const __m512i va = _mm512_unpacklo_epi8(_mm512_set1_epi32(a4), _mm512_setzero_si512());
    acc[0] = _mm512_add_epi32(acc[0], _mm512_madd_epi16(w.w0, va));
    acc[1] = _mm512_add_epi32(acc[1], _mm512_madd_epi16(w.w1, va));
  }
  // acc[0] lanes (2j, 2j+1) hold column j's two partial sums, acc[1] those of column 8 + j.
  static void finish(const Acc (&acc)[kAcc], __m512i (&out)[1]) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    out[0] = _mm512_add_epi32(_mm512_permutex2var_epi32(acc[0], even, acc[1]),
                              _mm512_permutex2var_epi32(acc[0], odd, acc[1]));
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_8x16c4__avx512, uint8_t, int8_t, void,
                        QGemmParams, Qu8Qs8wGemmTile<Avx512MaddDot>)

}  // namespace fnn
