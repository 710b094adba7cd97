// 16 columns (one GEMM panel row) as one AVX-512 register of f32 or int32: the vector type of
// the templated float GEMM tile, int8 GEMM epilogue and f32 depthwise kernel on
// the 512-bit ISAs. Include only from translation units compiled with AVX-512 F/BW/VL/DQ;
// everything is in an anonymous namespace, so no code is shared across ISAs.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace fnn {
namespace {

struct Avx512Vec16 {
  using Reg = __m512;
  static constexpr size_t kRegs = 1;  // registers per 16-column row
  static constexpr size_t kLanes = 16;
  static constexpr size_t kVectorRegs = 32;  // the register file
  static constexpr bool kLaneMadd = false;  // no FMA by lane: A is broadcast from memory

  // Accumulator sets per tile height: short tiles split K so that at least ~8 FMA chains are
  // in flight (FMA latency 4 x 2 pipes).
  struct Sets {
    static constexpr size_t of(size_t rows) { return rows <= 3 ? 4 : rows <= 7 ? 2 : 1; }
  };

  struct Mask {
    __mmask16 reg;
  };
  static Mask mask(size_t nc) { return Mask{_cvtu32_mask16((1u << nc) - 1u)}; }

  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const float* p, const Mask& m, size_t) { return _mm512_maskz_loadu_ps(m.reg, p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, Reg v, const Mask& m, size_t) { _mm512_mask_storeu_ps(p, m.reg, v); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b, one rounding
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg sqrt(Reg a) { return _mm512_sqrt_ps(a); }
  // max/min return the second operand when either is NaN: a NaN result stays NaN.
  static Reg clamp(Reg v, Reg lo, Reg hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }

  // ---- int32 lanes (the int8 GEMM epilogue) ----
  using IReg = __m512i;
  static IReg izero() { return _mm512_setzero_si512(); }
  static IReg iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static IReg iload(const int32_t* p) { return _mm512_loadu_si512(p); }
  static IReg iadd(IReg a, IReg b) { return _mm512_add_epi32(a, b); }
  static IReg isub(IReg a, IReg b) { return _mm512_sub_epi32(a, b); }
  static IReg imul(IReg a, IReg b) { return _mm512_mullo_epi32(a, b); }
  static Reg to_f32(IReg v) { return _mm512_cvtepi32_ps(v); }
  static IReg to_i32(Reg v) { return _mm512_cvtps_epi32(v); }  // MXCSR: nearest even
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static void store_i32(int32_t* p, const IReg (&v)[kRegs], const Mask& m, size_t) {
    _mm512_mask_storeu_epi32(p, m.reg, v[0]);
  }
  static void store_f32(float* p, const Reg (&v)[kRegs], const Mask& m, size_t) {
    _mm512_mask_storeu_ps(p, m.reg, v[0]);
  }
  // Values in [0, 255]: the narrowing store is exact.
  static void store_u8(uint8_t* p, const IReg (&v)[kRegs], const Mask& m, size_t) {
    _mm512_mask_cvtepi32_storeu_epi8(p, m.reg, v[0]);
  }

  // 16 halves -> 16 floats (vcvtph2ps: exact for every half incl. subnormals, inf and NaN).
  static Reg f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // 16 bf16 pairs (k, k+1) in 32-bit lanes: bf16(k) moved up, bf16(k+1) with the low half
  // masked off (32 registers: the mask constant costs nothing).
  static Reg bf16_even(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
  }
  static Reg bf16_odd(const uint16_t* p) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_loadu_si512(p), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
};

}  // namespace
}  // namespace fnn
