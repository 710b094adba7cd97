// Activation quantization, AArch64 Advanced SIMD: the min / max pass and the u8 quantize pass
// of quant.h, 8 floats a step. Bit-exact with the scalar kernels: FDIV as the scalar division,
// FCVTNS rounding to nearest even as nearbyint does, then the zero point and the clamp in int32.
#include <arm_neon.h>

#include "kernels/quant/quant.h"

namespace fnn {

bool f32_minmax_ukernel__neon(const float* x, size_t n, float* lo, float* hi) {
  float32x4_t vlo = vdupq_n_f32(*lo), vhi = vdupq_n_f32(*hi);
  uint32x4_t bad = vdupq_n_u32(0);  // non-zero lanes: a NaN or infinity was seen
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    // The scalar kernel's v < l ? v : l keeps l for NaN: compare and select, not FMIN.
    vlo = vbslq_f32(vcltq_f32(v, vlo), v, vlo);
    vhi = vbslq_f32(vcgtq_f32(v, vhi), v, vhi);
    const float32x4_t d = vsubq_f32(v, v);  // 0 for finite values, NaN otherwise
    bad = vorrq_u32(bad, vmvnq_u32(vceqq_f32(d, vdupq_n_f32(0.0f))));
  }
  float l4[4], h4[4];
  vst1q_f32(l4, vlo);
  vst1q_f32(h4, vhi);
  float l = l4[0], h = h4[0];
  for (int j = 1; j < 4; ++j) {
    l = l4[j] < l ? l4[j] : l;
    h = h4[j] > h ? h4[j] : h;
  }
  bool finite = vmaxvq_u32(bad) == 0;
  for (; i < n; ++i) {
    const float v = x[i];
    l = v < l ? v : l;
    h = v > h ? v : h;
    finite &= (v - v) == 0.f;
  }
  *lo = l;
  *hi = h;
  return finite;
}

void f32_qu8_ukernel__neon(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y) {
  const float32x4_t vs = vdupq_n_f32(scale);
  const int32x4_t vzp = vdupq_n_s32(zero_point), v0 = vdupq_n_s32(0), v255 = vdupq_n_s32(255);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    int32x4_t q0 = vcvtnq_s32_f32(vdivq_f32(vld1q_f32(x + i), vs));
    int32x4_t q1 = vcvtnq_s32_f32(vdivq_f32(vld1q_f32(x + i + 4), vs));
    q0 = vminq_s32(vmaxq_s32(vaddq_s32(q0, vzp), v0), v255);
    q1 = vminq_s32(vmaxq_s32(vaddq_s32(q1, vzp), v0), v255);
    vst1_u8(y + i, vqmovn_u16(vcombine_u16(vqmovun_s32(q0), vqmovun_s32(q1))));
  }
  for (; i < n; ++i) {
    int32_t q = static_cast<int32_t>(__builtin_nearbyintf(x[i] / scale)) + zero_point;
    q = q < 0 ? 0 : q;
    q = q > 255 ? 255 : q;
    y[i] = static_cast<uint8_t>(q);
  }
}

}  // namespace fnn
