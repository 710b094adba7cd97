// u8 A x s8 W int8 GEMM, AVX-VNNI (VEX-encoded vpdpbusd on ymm; AVX2 + AVX-VNNI, no AVX-512):
// up to 6 rows x 16 columns. Per group of 4 k, the 64-byte panel row is two 32-byte loads
// (columns 0-7 and 8-15, 4 k each), and per row one broadcast of 4 A bytes and two vpdpbusd.
// vpdpbusd adds four u8 x s8 products straight into int32 without saturation, so the result
// is exact. 6 rows x 2 accumulators + 2 W + 1 broadcast = 15 of the 16 ymm registers.
#include <immintrin.h>

#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"
#include "kernels/common/vec16_avx2.h"

namespace fnn {
namespace {

// The empty asm makes a W half a register value: otherwise GCC folds the load into every
// row's vpdpbusd (seen for M = 1, 2), and the load ports, not vpdpbusd, set the rate.
__m256i load_w_half(const int8_t* p) {
  __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  __asm__("" : "+v"(v));
  return v;
}

struct AvxVnniDot : QDotInOrder<Avx2Vec16> {
  using V = Avx2Vec16;
  using Acc = __m256i;
  static constexpr size_t kAcc = 2;
  // 2 * U * M independent vpdpbusd chains, at most 12 registers.
  static constexpr size_t sets(size_t m) { return m == 1 ? 4 : m <= 3 ? 2 : 1; }
  struct W {
    __m256i w0, w1;
  };
  static W load_w(const int8_t* p) { return W{load_w_half(p), load_w_half(p + 32)}; }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    const __m256i va = _mm256_set1_epi32(a4);
    acc[0] = _mm256_dpbusd_avx_epi32(acc[0], va, w.w0);
    acc[1] = _mm256_dpbusd_avx_epi32(acc[1], va, w.w1);
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_6x16c4__avxvnni, uint8_t, int8_t, void,
                        QGemmParams, Qu8Qs8wGemmTile<AvxVnniDot>)

}  // namespace fnn
