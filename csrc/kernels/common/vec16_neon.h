// 16 columns (one GEMM panel row) as four 128-bit Advanced SIMD registers of f32 or int32: the
// vector type of the templated float GEMM tile, the f32 depthwise tile and the int8 GEMM
// epilogue on AArch64 (neon, neondot). Include only from AArch64 translation units; everything
// is in an anonymous namespace, so no code is shared across ISAs.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fnn {
namespace {

struct NeonVec16 {
  using Reg = float32x4_t;
  static constexpr size_t kRegs = 4;  // registers per 16-column row
  static constexpr size_t kLanes = 4;
  static constexpr size_t kVectorRegs = 32;  // the register file
  // FMLA by element: the f32 tile loads 4 A values of a row at once and multiplies by lanes.
  static constexpr bool kLaneMadd = true;

  // Accumulator sets per tile height (index: rows): a 4-row tile holds 16 accumulators, 4 W
  // registers and 4 of A (4 k of each row, used by lane); short tiles take more sets so enough
  // FMA chains are in flight (FMLA's latency is 4 cycles on Cortex-A76).
  struct Sets {
    static constexpr size_t of(size_t rows) { return rows == 1 ? 4 : rows <= 3 ? 2 : 1; }
  };

  // Advanced SIMD has no masked loads or stores: a partial row (nc < 16) moves the lanes of
  // its first nc columns through a stack buffer, and nothing past column nc is read or written.
  struct Mask {
    size_t nc;
  };
  static Mask mask(size_t nc) { return Mask{nc}; }
  static size_t lanes(const Mask& m, size_t r) {
    return m.nc <= r * kLanes ? 0 : m.nc - r * kLanes >= kLanes ? kLanes : m.nc - r * kLanes;
  }

  static Reg zero() { return vdupq_n_f32(0.0f); }
  static Reg set1(float v) { return vdupq_n_f32(v); }
  static Reg load(const float* p) { return vld1q_f32(p); }
  static Reg load(const float* p, const Mask& m, size_t r) {
    float tmp[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::memcpy(tmp, p, lanes(m, r) * sizeof(float));
    return vld1q_f32(tmp);
  }
  static void store(float* p, Reg v) { vst1q_f32(p, v); }
  static void store(float* p, Reg v, const Mask& m, size_t r) {
    float tmp[kLanes];
    vst1q_f32(tmp, v);
    std::memcpy(p, tmp, lanes(m, r) * sizeof(float));
  }
  static Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }   // c + a * b, one rounding
  template <int Lane>
  static Reg fmadd_lane(Reg w, Reg a, Reg c) { return vfmaq_laneq_f32(c, w, a, Lane); }  // c + w * a[Lane]
  static Reg fnmadd(Reg a, Reg b, Reg c) { return vfmsq_f32(c, a, b); }  // c - a * b, one rounding
  static Reg sub(Reg a, Reg b) { return vsubq_f32(a, b); }
  static Reg div(Reg a, Reg b) { return vdivq_f32(a, b); }
  static Reg sqrt(Reg a) { return vsqrtq_f32(a); }
  static Reg mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  // x86's maxps / minps, which the int8 epilogue's NaN handling is written for: the second
  // operand unless the first compares greater (less), so a NaN in either gives the second.
  // FMAX / FMIN would give NaN, and FMAXNM / FMINNM the number, whichever side it is on.
  static Reg max(Reg a, Reg b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static Reg min(Reg a, Reg b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  // FMAX / FMIN pass a NaN through, as x86's min(hi, max(lo, v)) does.
  static Reg clamp(Reg v, Reg lo, Reg hi) { return vminq_f32(hi, vmaxq_f32(lo, v)); }

  // ---- int32 lanes (the int8 GEMM epilogue) ----
  using IReg = int32x4_t;
  static IReg izero() { return vdupq_n_s32(0); }
  static IReg iset1(int32_t v) { return vdupq_n_s32(v); }
  static IReg iload(const int32_t* p) { return vld1q_s32(p); }
  static IReg iadd(IReg a, IReg b) { return vaddq_s32(a, b); }  // wrapping, as x86's
  static IReg isub(IReg a, IReg b) { return vsubq_s32(a, b); }
  static IReg imul(IReg a, IReg b) { return vmulq_s32(a, b); }
  static Reg to_f32(IReg v) { return vcvtq_f32_s32(v); }   // SCVTF: nearest even, as cvtdq2ps
  static IReg to_i32(Reg v) { return vcvtnq_s32_f32(v); }  // FCVTNS: nearest even (in range)
  static void store_i32(int32_t* p, const IReg (&v)[kRegs], const Mask&, size_t nc) {
    int32_t tmp[16];
    int32_t* d = nc == 16 ? p : tmp;
    for (size_t r = 0; r < kRegs; ++r) vst1q_s32(d + r * kLanes, v[r]);
    if (d == tmp) std::memcpy(p, tmp, nc * sizeof(int32_t));
  }
  static void store_f32(float* p, const Reg (&v)[kRegs], const Mask&, size_t nc) {
    float tmp[16];
    float* d = nc == 16 ? p : tmp;
    for (size_t r = 0; r < kRegs; ++r) vst1q_f32(d + r * kLanes, v[r]);
    if (d == tmp) std::memcpy(p, tmp, nc * sizeof(float));
  }
  // Values in [0, 255]: the saturating narrows are exact.
  static void store_u8(uint8_t* p, const IReg (&v)[kRegs], const Mask&, size_t nc) {
    const uint16x8_t lo = vcombine_u16(vqmovun_s32(v[0]), vqmovun_s32(v[1]));
    const uint16x8_t hi = vcombine_u16(vqmovun_s32(v[2]), vqmovun_s32(v[3]));
    const uint8x16_t b = vcombine_u8(vqmovn_u16(lo), vqmovn_u16(hi));
    if (nc == 16) {
      vst1q_u8(p, b);
      return;
    }
    uint8_t tmp[16];
    vst1q_u8(tmp, b);
    std::memcpy(p, tmp, nc);
  }

  // 4 halves -> 4 floats (FCVTL: exact for every half incl. subnormals, inf and NaN).
  static Reg f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  // 4 bf16 pairs (k, k+1) in 32-bit lanes: bf16(k) moved up, and bf16(k+1) with the low half
  // cleared.
  static Reg bf16_even(const uint16_t* p) {
    return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_u16(vld1q_u16(p)), 16));
  }
  static Reg bf16_odd(const uint16_t* p) {
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_u16(vld1q_u16(p)), vdupq_n_u32(0xFFFF0000u)));
  }
};

}  // namespace
}  // namespace fnn
