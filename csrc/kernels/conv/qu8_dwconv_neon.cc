// The int8 depthwise micro-kernel of AArch64 Advanced SIMD, bit-exact with the scalar kernel.
// Per pixel and block of 8 channels, every valid tap adds (x - zero point) * w: the u8 input
// widened to int16 minus the zero point (in [-255, 255]) and the s8 weight widened to int16,
// SMLAL / SMLAL2 into two int32x4 accumulators (exact: the products fit int32, and the sums
// wrap as the scalar kernel's do). The output stage is the int8 GEMM's, with x86's max / min
// operand semantics (vec16_neon.h), so NaN-free inputs and saturating ends round the same way.
#include <arm_neon.h>

#include <cstring>

#include "kernels/common/opaque.h"
#include "kernels/common/vec16_neon.h"
#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

// The first nb (<= 8) elements at p, the rest zero.
template <typename T>
void load8(const T* p, size_t nb, T (&out)[8]) {
  std::memset(out, 0, sizeof(out));
  std::memcpy(out, p, nb * sizeof(T));
}

}  // namespace

void qu8_dwconv_ukernel__neon(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  using V = NeonVec16;
  const int16x8_t vzp = vdupq_n_s16(static_cast<int16_t>(p.a_zero_point));
  const float32x4_t qlo = vdupq_n_f32(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
  const float32x4_t qhi = vdupq_n_f32(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
  const float32x4_t flo = vdupq_n_f32(p.lo), fhi = vdupq_n_f32(p.hi);
  const int32x4_t ozp = vdupq_n_s32(p.out_zero_point);
  const size_t out_bytes = p.out_u8 ? 1 : sizeof(float);
  for (size_t k = 0; k < t.m; ++k) {
    const uint8_t* x = t.x + k * t.x_next;
    char* yk = static_cast<char*>(y) + k * n * c * out_bytes;
    for (size_t i = 0; i < n; ++i) {
      // The window columns inside the input: a contiguous range, since ix grows with q.
      const std::ptrdiff_t ix0 = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
      size_t q0 = 0, q1 = t.cols;
      while (q0 < q1 && !dw_column_in(t, ix0 + static_cast<std::ptrdiff_t>(q0 * t.dw))) ++q0;
      while (q1 > q0 && !dw_column_in(t, ix0 + static_cast<std::ptrdiff_t>((q1 - 1) * t.dw))) --q1;
      for (size_t j = 0; j < c; j += 8) {
        const size_t nb = c - j < 8 ? c - j : 8;
        int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0);
        for (size_t r = 0; r < t.rows; ++r) {
          for (size_t q = q0; q < q1; ++q) {
            const size_t ix = static_cast<size_t>(ix0 + static_cast<std::ptrdiff_t>(q * t.dw));
            const uint8_t* xp = x + r * t.x_row + ix * t.x_pix + j;
            const int8_t* wp = t.w + r * t.w_row + q * t.w_col + j;
            uint8x8_t xv;
            int8x8_t wv;
            if (nb == 8) {
              xv = vld1_u8(xp);
              wv = vld1_s8(wp);
            } else {
              uint8_t xb[8];
              int8_t wb[8];
              load8(xp, nb, xb);
              load8(wp, nb, wb);
              xv = vld1_u8(xb);
              wv = vld1_s8(wb);
            }
            const int16x8_t xs = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(xv)), vzp);
            const int16x8_t ws = vmovl_s8(wv);
            a0 = vmlal_s16(a0, vget_low_s16(xs), vget_low_s16(ws));
            a1 = vmlal_high_s16(a1, xs, ws);
          }
        }
        float sc[8], bf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::memcpy(sc, p.scale + j, nb * sizeof(float));
        if (p.out_u8) {
          int32_t bi[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          if (p.bias_i32 != nullptr) std::memcpy(bi, p.bias_i32 + j, nb * sizeof(int32_t));
          int32x4_t q[2];
          const int32x4_t acc[2] = {a0, a1};
          for (size_t h = 0; h < 2; ++h) {
            float32x4_t f = V::mul(V::to_f32(vaddq_s32(acc[h], vld1q_s32(bi + 4 * h))), vld1q_f32(sc + 4 * h));
            f = V::min(V::max(f, qlo), qhi);
            q[h] = vaddq_s32(V::to_i32(f), ozp);  // in [qmin, qmax]
          }
          const uint8x8_t b = vqmovn_u16(vcombine_u16(vqmovun_s32(q[0]), vqmovun_s32(q[1])));
          uint8_t* yp = reinterpret_cast<uint8_t*>(yk) + i * c + j;
          if (nb == 8) {
            vst1_u8(yp, b);
          } else {
            uint8_t tmp[8];
            vst1_u8(tmp, b);
            std::memcpy(yp, tmp, nb);
          }
        } else {
          if (p.bias_f32 != nullptr) std::memcpy(bf, p.bias_f32 + j, nb * sizeof(float));
          float out[8];
          const int32x4_t acc[2] = {a0, a1};
          for (size_t h = 0; h < 2; ++h) {
            float32x4_t f = opaque(V::mul(V::to_f32(acc[h]), vld1q_f32(sc + 4 * h)));
            if (p.bias_f32 != nullptr) f = vaddq_f32(f, vld1q_f32(bf + 4 * h));
            f = V::min(V::max(f, flo), fhi);
            vst1q_f32(out + 4 * h, f);
          }
          std::memcpy(reinterpret_cast<float*>(yk) + i * c + j, out, nb * sizeof(float));
        }
      }
    }
  }
}

}  // namespace fnn
