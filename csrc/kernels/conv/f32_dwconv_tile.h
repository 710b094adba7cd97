// The SIMD f32 depthwise micro-kernel over V, the ISA's vector type (kernels/common/
// vec16_avx2.h, vec16_avx512.h), used one register at a time: a block of V::kLanes channels
// (8 on AVX2, 16 on AVX-512, a masked block for the tail) runs through all n pixels of the run
// before the next block, so the block's weights are loaded once per run. The full 3x3 window
// (MobileNet's every depthwise layer) keeps its 9 weight registers across the pixels and each
// tap costs one load and one FMA; other windows read their weights from L1 per tap.
// Taps are summed in row-major order after the bias, as the scalar kernel does. Everything is
// in an anonymous namespace: each ISA translation unit compiles its own copy.
#pragma once

#include <cstddef>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

template <typename V, bool kTail>
struct F32DwLanes {
  typename V::Mask m;
  typename V::Reg load(const float* p) const {
    if constexpr (kTail) return V::load(p, m, 0);
    else return V::load(p);
  }
  void store(float* p, typename V::Reg v) const {
    if constexpr (kTail) V::store(p, v, m, 0);
    else V::store(p, v);
  }
};

// Channels [j, j + lanes) of all n pixels; k3x3: the window is 3 x 3.
template <typename V, bool kTail, bool k3x3>
void f32_dwconv_block(size_t n, size_t c, const F32DwTaps& t, const float* bias, typename V::Reg vlo,
                      typename V::Reg vhi, float* y, size_t j, const F32DwLanes<V, kTail>& io) {
  using Reg = typename V::Reg;
  const Reg vb = bias != nullptr ? io.load(bias + j) : V::zero();
  const float* x = t.x + j;
  float* yp = y + j;
  if constexpr (k3x3) {
    Reg w[9];
#pragma GCC unroll 9
    for (size_t k = 0; k < 9; ++k) w[k] = io.load(t.w + (k / 3) * t.w_row + (k % 3) * t.w_col + j);
    const size_t xr = t.x_row, xc = t.x_col;
    for (size_t i = 0; i < n; ++i, x += t.x_step, yp += c) {
      Reg a = vb;
#pragma GCC unroll 9
      for (size_t k = 0; k < 9; ++k) a = V::fmadd(io.load(x + (k / 3) * xr + (k % 3) * xc), w[k], a);
      io.store(yp, V::clamp(a, vlo, vhi));
    }
  } else {
    for (size_t i = 0; i < n; ++i, x += t.x_step, yp += c) {
      Reg a = vb;
      for (size_t r = 0; r < t.rows; ++r) {
        const float* xr = x + r * t.x_row;
        const float* wr = t.w + r * t.w_row + j;
        for (size_t q = 0; q < t.cols; ++q) a = V::fmadd(io.load(xr + q * t.x_col), io.load(wr + q * t.w_col), a);
      }
      io.store(yp, V::clamp(a, vlo, vhi));
    }
  }
}

template <typename V, bool kTail>
void f32_dwconv_lanes(size_t n, size_t c, const F32DwTaps& t, const float* bias, typename V::Reg vlo,
                      typename V::Reg vhi, float* y, size_t j, const F32DwLanes<V, kTail>& io) {
  if (t.rows == 3 && t.cols == 3) {
    f32_dwconv_block<V, kTail, true>(n, c, t, bias, vlo, vhi, y, j, io);
  } else {
    f32_dwconv_block<V, kTail, false>(n, c, t, bias, vlo, vhi, y, j, io);
  }
}

template <typename V>
void f32_dwconv(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo, float hi, float* y) {
  constexpr size_t L = V::kLanes;
  const typename V::Reg vlo = V::set1(lo), vhi = V::set1(hi);
  size_t j = 0;
  const F32DwLanes<V, false> whole{V::mask(L)};
  for (; j + L <= c; j += L) f32_dwconv_lanes<V, false>(n, c, t, bias, vlo, vhi, y, j, whole);
  if (j < c) f32_dwconv_lanes<V, true>(n, c, t, bias, vlo, vhi, y, j, F32DwLanes<V, true>{V::mask(c - j)});
}

}  // namespace
}  // namespace fnn
