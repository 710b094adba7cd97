// The SIMD f32 depthwise micro-kernel over V, the ISA's vector type (kernels/common/
// vec16_avx2.h, vec16_avx512.h, vec16_neon.h), used one register at a time: a block of
// V::kLanes channels (8 on AVX2, 16 on AVX-512, 4 on NEON, a masked block for the tail) runs through all n pixels of the run
// before the next block, so the block's weights are loaded once per run (one or more output
// rows). Windows of up to 3x3 taps (MobileNet's 3x3 layers) keep their weights in registers
// across the run, edge pixels included, so an interior tap costs one load and one FMA; larger
// windows read their weights from L1 per tap.
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

// Channels [j, j + kB lanes) of all n pixels (kB registers side by side: independent FMA chains
// when a run is short), windows of kRows x kCols taps (0 x 0: t.rows x t.cols at run time, the
// weights then read per tap, kB 1). Interior pixels (in) read their taps unchecked; edge pixels
// skip their padding columns. Out of line, as qu8_dw_block (one register-allocation problem per
// window shape).
template <typename V, bool kTail, size_t kRows, size_t kCols, size_t kB>
__attribute__((noinline)) void f32_dwconv_block(size_t n, size_t c, const F32DwTaps& taps, const float* bias,
                                                typename V::Reg vlo, typename V::Reg vhi, float* y, size_t j,
                                                const F32DwLanes<V, kTail>& lanes, DwInterior in) {
  using Reg = typename V::Reg;
  constexpr size_t L = V::kLanes;
  static_assert(kB == 1 || (!kTail && kRows != 0), "side-by-side registers: whole lanes, fixed windows");
  // Local copies: the stores through y could alias the callers' structs, which would make the
  // compiler reload the strides after every pixel.
  const F32DwTaps t = taps;
  const F32DwLanes<V, kTail> io = lanes;
  Reg vb[kB];
#pragma GCC unroll 2
  for (size_t b = 0; b < kB; ++b) vb[b] = bias != nullptr ? io.load(bias + j + b * L) : V::zero();
  const size_t xr = t.x_row, xc = t.dw * t.x_pix, xs = t.sw * t.x_pix;
  if constexpr (kRows != 0) {
    constexpr size_t kTaps = kRows * kCols;
    Reg w[kTaps][kB];
#pragma GCC unroll 25
    for (size_t k = 0; k < kTaps; ++k) {
#pragma GCC unroll 2
      for (size_t b = 0; b < kB; ++b) w[k][b] = io.load(t.w + (k / kCols) * t.w_row + (k % kCols) * t.w_col + j + b * L);
    }
    for (size_t row = 0; row < t.m; ++row) {
      const float* x0 = t.x + row * t.x_next + j;
      float* y0 = y + row * n * c + j;
      auto edge = [&](size_t i) {
        const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
        Reg a[kB];
#pragma GCC unroll 2
        for (size_t b = 0; b < kB; ++b) a[b] = vb[b];
        // A padding column reads zeros (adds +-0 to the sum): a pointer select, not a branch
        // per tap, which mispredicted on the short rows of small layers.
        const float* xq[kCols];
#pragma GCC unroll 5
        for (size_t q = 0; q < kCols; ++q) {
          const std::ptrdiff_t col = ix + static_cast<std::ptrdiff_t>(q * t.dw);
          xq[q] = dw_column_in(t, col) ? x0 + static_cast<size_t>(col) * t.x_pix : nullptr;
        }
#pragma GCC unroll 25
        for (size_t k = 0; k < kTaps; ++k) {
          const float* xp = xq[k % kCols];
#pragma GCC unroll 2
          for (size_t b = 0; b < kB; ++b) {
            a[b] = V::fmadd(xp != nullptr ? io.load(xp + (k / kCols) * xr + b * L) : V::zero(), w[k][b], a[b]);
          }
        }
#pragma GCC unroll 2
        for (size_t b = 0; b < kB; ++b) io.store(y0 + i * c + b * L, V::clamp(a[b], vlo, vhi));
      };
      for (size_t i = 0; i < in.lo; ++i) edge(i);
      if (in.lo < in.hi) {
        const float* x = x0 + static_cast<size_t>(t.ix0 + static_cast<std::ptrdiff_t>(in.lo * t.sw)) * t.x_pix;
        float* yp = y0 + in.lo * c;
        for (size_t i = in.lo; i < in.hi; ++i, x += xs, yp += c) {
          Reg a[kB];
#pragma GCC unroll 2
          for (size_t b = 0; b < kB; ++b) a[b] = vb[b];
#pragma GCC unroll 25
          for (size_t k = 0; k < kTaps; ++k) {
#pragma GCC unroll 2
            for (size_t b = 0; b < kB; ++b) {
              a[b] = V::fmadd(io.load(x + (k / kCols) * xr + (k % kCols) * xc + b * L), w[k][b], a[b]);
            }
          }
#pragma GCC unroll 2
          for (size_t b = 0; b < kB; ++b) io.store(yp + b * L, V::clamp(a[b], vlo, vhi));
        }
      }
      for (size_t i = in.hi; i < n; ++i) edge(i);
    }
  } else {
    for (size_t row = 0; row < t.m; ++row) {
      const float* x0 = t.x + row * t.x_next + j;
      for (size_t i = 0; i < n; ++i) {
        const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
        Reg a = vb[0];
        for (size_t r = 0; r < t.rows; ++r) {
          for (size_t q = 0; q < t.cols; ++q) {
            const std::ptrdiff_t col = ix + static_cast<std::ptrdiff_t>(q * t.dw);
            if (!dw_column_in(t, col)) continue;
            a = V::fmadd(io.load(x0 + r * xr + static_cast<size_t>(col) * t.x_pix),
                         io.load(t.w + r * t.w_row + q * t.w_col + j), a);
          }
        }
        io.store(y + (row * n + i) * c + j, V::clamp(a, vlo, vhi));
      }
    }
  }
}

// Windows of up to 3 x 3 taps (a 3x3 layer's rows) and the 3-, 4- and 5-row windows of a 5x5
// layer get their weights in registers and no loop overhead per tap; up to 3x3, kB registers
// side by side (5x5: one, 25 weight registers already).
template <typename V, bool kTail, size_t kB>
void f32_dwconv_lanes(size_t n, size_t c, const F32DwTaps& t, const float* bias, typename V::Reg vlo,
                      typename V::Reg vhi, float* y, size_t j, const F32DwLanes<V, kTail>& io, DwInterior in) {
  const size_t shape = t.rows <= 5 && t.cols <= 5 ? t.rows * 8 + t.cols : 0;
  switch (shape) {
#define FNN_F32_DW_CASE(R, C, B) \
  case R * 8 + C:                \
    for (size_t b = 0; b < kB / B; ++b) {                                                       \
      f32_dwconv_block<V, kTail, R, C, B>(n, c, t, bias, vlo, vhi, y, j + b * V::kLanes, io, in); \
    }                                                                                           \
    return;
    FNN_F32_DW_CASE(1, 1, kB) FNN_F32_DW_CASE(1, 2, kB) FNN_F32_DW_CASE(1, 3, kB)
    FNN_F32_DW_CASE(2, 1, kB) FNN_F32_DW_CASE(2, 2, kB) FNN_F32_DW_CASE(2, 3, kB)
    FNN_F32_DW_CASE(3, 1, kB) FNN_F32_DW_CASE(3, 2, kB) FNN_F32_DW_CASE(3, 3, kB)
    FNN_F32_DW_CASE(3, 5, 1) FNN_F32_DW_CASE(4, 5, 1) FNN_F32_DW_CASE(5, 5, 1)
#undef FNN_F32_DW_CASE
    default:
      for (size_t b = 0; b < kB; ++b) {
        f32_dwconv_block<V, kTail, 0, 0, 1>(n, c, t, bias, vlo, vhi, y, j + b * V::kLanes, io, in);
      }
  }
}

template <typename V>
void f32_dwconv(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo, float hi, float* y) {
  constexpr size_t L = V::kLanes;
  // Two registers side by side where 2 x 9 weights fit in the register file (32 registers:
  // AVX-512, NEON).
  constexpr size_t kB = V::kVectorRegs >= 32 ? 2 : 1;
  const typename V::Reg vlo = V::set1(lo), vhi = V::set1(hi);
  const DwInterior in = dw_interior(n, t);
  const F32DwLanes<V, false> whole{V::mask(L)};
  size_t j = 0;
  for (; j + kB * L <= c; j += kB * L) f32_dwconv_lanes<V, false, kB>(n, c, t, bias, vlo, vhi, y, j, whole, in);
  for (; j + L <= c; j += L) f32_dwconv_lanes<V, false, 1>(n, c, t, bias, vlo, vhi, y, j, whole, in);
  if (j < c) f32_dwconv_lanes<V, true, 1>(n, c, t, bias, vlo, vhi, y, j, F32DwLanes<V, true>{V::mask(c - j)}, in);
}

}  // namespace
}  // namespace fnn
