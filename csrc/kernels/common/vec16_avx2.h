// 16 columns (one GEMM panel row) as AVX2 registers, two ymm of f32 or int32: the vector type
// of the templated float GEMM tile, int8 GEMM epilogue and f32 depthwise kernel
// on the 256-bit ISAs (avx2, avxvnni). Include only from translation units compiled with AVX2
// + FMA + F16C; everything is in an anonymous namespace, so no code is shared across ISAs.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fnn {
namespace {

struct Avx2Vec16 {
  using Reg = __m256;
  static constexpr size_t kRegs = 2;  // registers per 16-column row
  static constexpr size_t kLanes = 8;
  static constexpr size_t kVectorRegs = 16;  // the register file
  static constexpr bool kLaneMadd = false;  // no FMA by lane: A is broadcast from memory

  // Accumulator sets per tile height (index: rows): 16 registers hold at most 12
  // accumulators, and short tiles need more independent FMA chains to hide the latency.
  struct Sets {
    static constexpr size_t of(size_t rows) { return rows == 1 ? 4 : rows <= 3 ? 2 : 1; }
  };

  // Lanes of the first nc columns (maskload / maskstore use the sign bit).
  struct Mask {
    __m256i reg[2];
  };
  static Mask mask(size_t nc) {
    const __m256i n = _mm256_set1_epi32(static_cast<int>(nc));
    return Mask{{_mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                 _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15))}};
  }

  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const float* p, const Mask& m, size_t r) { return _mm256_maskload_ps(p, m.reg[r]); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, Reg v, const Mask& m, size_t r) { _mm256_maskstore_ps(p, m.reg[r], v); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b, one rounding
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg sqrt(Reg a) { return _mm256_sqrt_ps(a); }
  // max/min return the second operand when either is NaN: a NaN result stays NaN.
  static Reg clamp(Reg v, Reg lo, Reg hi) { return _mm256_min_ps(hi, _mm256_max_ps(lo, v)); }

  // ---- int32 lanes (the int8 GEMM epilogue) ----
  using IReg = __m256i;
  static IReg izero() { return _mm256_setzero_si256(); }
  static IReg iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static IReg iload(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static IReg iadd(IReg a, IReg b) { return _mm256_add_epi32(a, b); }
  static IReg isub(IReg a, IReg b) { return _mm256_sub_epi32(a, b); }
  static IReg imul(IReg a, IReg b) { return _mm256_mullo_epi32(a, b); }
  static Reg to_f32(IReg v) { return _mm256_cvtepi32_ps(v); }
  static IReg to_i32(Reg v) { return _mm256_cvtps_epi32(v); }  // MXCSR: nearest even
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  // Partial rows (nc < 16) go through a stack buffer, so nothing past column nc is written.
  static void store_i32(int32_t* p, const IReg (&v)[kRegs], const Mask&, size_t nc) {
    if (nc == 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v[0]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 8), v[1]);
      return;
    }
    int32_t tmp[16];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp), v[0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp + 8), v[1]);
    std::memcpy(p, tmp, nc * sizeof(int32_t));
  }
  static void store_f32(float* p, const Reg (&v)[kRegs], const Mask&, size_t nc) {
    if (nc == 16) {
      _mm256_storeu_ps(p, v[0]);
      _mm256_storeu_ps(p + 8, v[1]);
      return;
    }
    float tmp[16];
    _mm256_storeu_ps(tmp, v[0]);
    _mm256_storeu_ps(tmp + 8, v[1]);
    std::memcpy(p, tmp, nc * sizeof(float));
  }
  // Values in [0, 255]: the saturating packs are exact. packs works per 128-bit lane, the
  // permute restores column order.
  static void store_u8(uint8_t* p, const IReg (&v)[kRegs], const Mask&, size_t nc) {
    const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), 0xD8);
    const __m128i b8 = _mm_packus_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
    if (nc == 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b8);
      return;
    }
    uint8_t tmp[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(tmp), b8);
    std::memcpy(p, tmp, nc);
  }

  // 8 halves -> 8 floats (vcvtph2ps: exact for every half incl. subnormals, inf and NaN).
  static Reg f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // 8 bf16 pairs (k, k+1) in 32-bit lanes: bf16(k) moved up, and bf16(k+1) with the low half
  // cleared. Two shifts rather than an AND: a mask constant would take the 16th ymm register
  // and make GCC spill.
  static Reg bf16_even(const uint16_t* p) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), 16));
  }
  static Reg bf16_odd(const uint16_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16));
  }
};

}  // namespace
}  // namespace fnn
