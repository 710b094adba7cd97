// The SIMD f32 depthwise micro-kernel over V, the ISA's 16-channel vector type
// (kernels/common/vec16_avx2.h, vec16_avx512.h): blocks of B x 16 channels stay in registers
// across all taps (B = 2 on AVX-512: two independent FMA chains hide the latency; on AVX2 one
// 16-channel block already is two), then 16-channel masked tails. Everything is in an
// anonymous namespace: each ISA translation unit compiles its own copy.
#pragma once

#include <cstddef>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

template <typename V, size_t B>
void f32_dwconv(size_t c, const F32DwTaps& t, const float* bias, float lo, float hi, float* y) {
  using Reg = typename V::Reg;
  constexpr size_t R = V::kRegs * B;  // registers per block
  constexpr size_t L = V::kLanes;
  const Reg vlo = V::set1(lo), vhi = V::set1(hi);
  size_t j = 0;
  for (; j + R * L <= c; j += R * L) {
    Reg a[R];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; ++i) a[i] = bias != nullptr ? V::load(bias + j + i * L) : V::zero();
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
        const float* xp = xr + q * t.x_col;
        const float* wp = wr + q * t.w_col;
#pragma GCC unroll 4
        for (size_t i = 0; i < R; ++i) a[i] = V::fmadd(V::load(xp + i * L), V::load(wp + i * L), a[i]);
      }
    }
#pragma GCC unroll 4
    for (size_t i = 0; i < R; ++i) V::store(y + j + i * L, V::clamp(a[i], vlo, vhi));
  }
  for (; j < c; j += 16) {
    const typename V::Mask m = V::mask(c - j < 16 ? c - j : 16);
    Reg a[V::kRegs];
#pragma GCC unroll 2
    for (size_t i = 0; i < V::kRegs; ++i) {
      a[i] = bias != nullptr ? V::load(bias + j + i * L, m, i) : V::zero();
    }
    for (size_t r = 0; r < t.rows; ++r) {
      const float* xr = t.x + r * t.x_row + j;
      const float* wr = t.w + r * t.w_row + j;
      for (size_t q = 0; q < t.cols; ++q) {
#pragma GCC unroll 2
        for (size_t i = 0; i < V::kRegs; ++i) {
          a[i] = V::fmadd(V::load(xr + q * t.x_col + i * L, m, i), V::load(wr + q * t.w_col + i * L, m, i), a[i]);
        }
      }
    }
#pragma GCC unroll 2
    for (size_t i = 0; i < V::kRegs; ++i) V::store(y + j + i * L, V::clamp(a[i], vlo, vhi), m, i);
  }
}

}  // namespace
}  // namespace fnn
