// u8 A x s8 W int8 GEMM on AArch64 with the dot-product extension (SDOT), exact: up to 4 rows x
// 16 columns. The packed K group ([16 columns][4 k], 64 bytes) is SDOT's own operand order:
// four registers of 4 columns x 4 bytes. SDOT multiplies s8 by s8, so A's u8 bytes are flipped
// to a - 128 (an XOR of the sign bit), and the difference comes back with the zero point:
//   sum (a - zp) w = sum (a - 128) w - (zp - 128) colsum       (exact, wrapping int32)
// The kernel runs the shared tile with a_zero_point - 128. The main loop reads 16 bytes (4 K
// groups) of each row at once, flips them with one EOR, and SDOT by element takes group j from
// lane j: per 4 groups and 4 rows, 4 loads + 4 EOR of A, 16 of W, 64 SDOT of 16 multiply-adds.
// 16 accumulators + 4 W + 4 A registers.
#include <arm_neon.h>

#include "kernels/common/vec16_neon.h"
#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/qu8_qs8w_gemm_tile.h"

namespace fnn {
namespace {

struct NeonSdot : QDotInOrder<NeonVec16> {
  using V = NeonVec16;
  using Acc = int32x4_t;
  static constexpr size_t kAcc = 4;
  static constexpr size_t sets(size_t) { return 1; }
  static constexpr size_t kLaneGroups = 4;
  using ALanes = int8x16_t;
  struct W {
    int8x16_t q[4];  // columns 4j .. 4j + 3, k0..k3 each
  };
  static W load_w(const int8_t* p) {
    return W{{vld1q_s8(p), vld1q_s8(p + 16), vld1q_s8(p + 32), vld1q_s8(p + 48)}};
  }
  static void dot(Acc (&acc)[kAcc], int32_t a4, const W& w) {
    const int8x16_t a = vreinterpretq_s8_u32(vdupq_n_u32(static_cast<uint32_t>(a4) ^ 0x80808080u));
    for (size_t j = 0; j < kAcc; ++j) acc[j] = vdotq_s32(acc[j], w.q[j], a);
  }
  static ALanes load_a_lanes(const uint8_t* p) {
    return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p), vdupq_n_u8(0x80)));
  }
  template <size_t Lane>
  static void dot_lane(Acc (&acc)[kAcc], ALanes a, const W& w) {
    for (size_t j = 0; j < kAcc; ++j) acc[j] = vdotq_laneq_s32(acc[j], w.q[j], a, Lane);
  }
};

// The shared tile over a - 128, with the zero point moved to match.
struct NeonSdotTile {
  template <size_t M>
  static void run(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w, void* c,
                  size_t c_stride, const QGemmParams* p) {
    QGemmParams q = *p;
    q.a_zero_point = static_cast<int32_t>(static_cast<uint32_t>(p->a_zero_point) - 128u);
    Qu8Qs8wGemmTile<NeonSdot>::template run<M>(nc, k, a, a_stride, w, c, c_stride, &q);
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(qu8_qs8w_gemm_ukernel_4x16c4__neondot, uint8_t, int8_t, void, QGemmParams,
                        NeonSdotTile)

}  // namespace fnn
