// u8 A x s8 W int8 GEMM on AArch64 Advanced SIMD without the dot-product extension, exact: up
// to 4 rows x 16 columns. LD4 splits a K group (16 columns x k0..k3, 64 bytes) into one
// register per k holding that k of the 16 columns in order; each is sign-extended to two int16
// registers. A row's 4 bytes are zero-extended to int16 lanes, and SMLAL by element adds
//   acc[columns] += w_k[columns] * a[k]
// exactly into int32 (255 * 127 fits int16 x int16 -> int32): 16 SMLAL per row and K group,
// 4 multiply-adds each, the columns already in order. 16 accumulators + 8 W + 1 A registers.
#include <arm_neon.h>

#include "kernels/common/vec16_neon.h"
#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"

namespace fnn {
namespace {

struct NeonMlalDot : QDotInOrder<NeonVec16> {
  using V = NeonVec16;
  using Acc = int32x4_t;
  static constexpr size_t kAcc = 4;
  static constexpr size_t sets(size_t m) { return m == 1 ? 4 : m == 2 ? 2 : 1; }
  // k[i][h]: k0 + i of columns 8h .. 8h + 7, as int16.
  struct W {
    int16x8_t k[4][2];
  };
  static W load_w(const int8_t* p) {
    const int8x16x4_t d = vld4q_s8(p);
    W w;
    for (size_t i = 0; i < 4; ++i) {
      w.k[i][0] = vmovl_s8(vget_low_s8(d.val[i]));
      w.k[i][1] = vmovl_high_s8(d.val[i]);
    }
    return w;
  }
  template <int I>
  static void madd_k(Acc (&acc)[kAcc], int16x4_t a, const W& w) {
    acc[0] = vmlal_lane_s16(acc[0], vget_low_s16(w.k[I][0]), a, I);
    acc[1] = vmlal_high_lane_s16(acc[1], w.k[I][0], a, I);
    acc[2] = vmlal_lane_s16(acc[2], vget_low_s16(w.k[I][1]), a, I);
    acc[3] = vmlal_high_lane_s16(acc[3], w.k[I][1], a, I);
  }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    const uint8x8_t bytes = vreinterpret_u8_u32(vdup_n_u32(static_cast<uint32_t>(a4)));
    const int16x4_t a = vreinterpret_s16_u16(vget_low_u16(vmovl_u8(bytes)));
    madd_k<0>(acc, a, w);
    madd_k<1>(acc, a, w);
    madd_k<2>(acc, a, w);
    madd_k<3>(acc, a, w);
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_3x16c4__neon, uint8_t, int8_t, void, QGemmParams,
                        Qu8Qs8wGemmTile<NeonMlalDot>)

}  // namespace fnn
