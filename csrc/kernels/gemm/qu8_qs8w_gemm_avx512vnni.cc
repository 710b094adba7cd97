// u8 A x s8 W int8 GEMM, AVX512-VNNI: up to 12 rows x 16 columns. Per group of 4 k, one
// 64-byte load of the panel row (16 columns x 4 k), and per row one broadcast of 4 A bytes
// and one vpdpbusd. vpdpbusd adds four u8 x s8 products straight into int32 without
// saturation, so the result is exact.
#include <immintrin.h>

#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"
#include "kernels/common/vec16_avx512.h"

namespace fnn {
namespace {

struct Avx512VnniDot : QDotInOrder<Avx512Vec16> {
  using V = Avx512Vec16;
  using Acc = __m512i;
  static constexpr size_t kAcc = 1;
  // One vpdpbusd chain per row would wait on the previous vpdpbusd's latency (M = 1 ran at a
  // third of the M = 4 rate).
  static constexpr size_t sets(size_t m) { return m >= 8 ? 1 : m >= 4 ? 2 : 4; }
  using W = __m512i;
  static W load_w(const int8_t* p) { return _mm512_loadu_si512(p); }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_set1_epi32(a4), w);
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_12x16c4__avx512vnni, uint8_t, int8_t, void,
                        QGemmParams, Qu8Qs8wGemmTile<Avx512VnniDot>)

}  // namespace fnn
