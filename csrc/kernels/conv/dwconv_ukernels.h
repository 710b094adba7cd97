// Depthwise convolution micro-kernels (NHWC). A micro-kernel computes a RUN of n output
// pixels of an output row over all their channels: the window rows inside the input are the
// same for the whole run (`rows` of them from `x`, the first one's input row), and pixel i's
// window column q reads input column ix0 + i * sw + q * dw, a padding column when outside
// [0, x_cols). A run may span m output rows with the same window rows (the rows of a layer
// whose windows are vertically inside the input), row k's input x_next * k elements after row
// 0's. Outputs are consecutive (pixel i of output row k at y + (k * n + i) * c). conv_nhwc.cc's
// driver makes one run of the middle rows of an image (and one of each top or bottom row), so a
// kernel loops over channel blocks outside and pixels inside, keeps a block's weights in
// registers across the rows, their edges included, and, where the stride lets windows overlap,
// reuses the input columns it already loaded.
//
// Padding adds nothing (a zero, or for u8 (zero_point - zero_point) * w = 0): a kernel may skip
// a padding tap or count it as zero / the zero point, both exact for u8 (f32: a zero times a
// finite weight). A run may have no valid tap at all (rows 0, or every column in the padding):
// its outputs are the output stage of a zero sum.
//
// qu8: u8 activations (with a zero point) times s8 weights, int32 sums, then the same output
// stage as the int8 GEMM (qu8_qs8w_gemm_*), so an int8 depthwise layer between int8 convs
// reads and writes the u8 tensors they do. Every ISA's kernel is bit-identical to the scalar
// one. f32: float sums (FMA where the ISA has it), bias, clamp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// The taps of a run of pixels (strides in elements, bytes for u8 / s8).
struct QDwTaps {
  const uint8_t* x = nullptr;  // the first valid window row's input row, at input column 0
  const int8_t* w = nullptr;   // weights [.][.][c] of that window row, window column 0
  size_t rows = 0, cols = 0;   // valid window rows; window columns (kw)
  size_t x_row = 0;            // between the input of vertically adjacent taps (dh*W*C)
  size_t x_pix = 0;            // between adjacent input columns (C)
  size_t w_row = 0;            // between weight rows of the window (kw*C)
  size_t w_col = 0;            // ... of adjacent weight columns (C)
  std::ptrdiff_t ix0 = 0;      // input column of pixel 0's window column 0 (< 0: in the padding)
  size_t x_cols = 0;           // input columns (W)
  size_t sw = 1, dw = 1;       // input columns between pixels' windows / window columns
  size_t m = 1;                // output rows: the run repeats m times, its outputs after the last
  size_t x_next = 0;           // between the inputs of consecutive output rows (sh*W*C)
};

// Output stage, per channel j, acc = sum over taps of (x - a_zero_point) * w (wrapping int32):
//   u8:  q = clamp(nearbyint(float(acc + bias_i32[j]) * scale[j]), qmin - zp, qmax - zp) + zp
//        (clamped before rounding, as the GEMM does; scale = a_scale * w_scale / out_scale)
//   f32: y = clamp(float(acc) * scale[j] + bias_f32[j], lo, hi)   (scale = a_scale * w_scale;
//        the product is rounded before the add, never fused)
// SIMD kernels compute sum(x * w) - a_zero_point * sum(w), equal in wrapping int32, with the
// weights' sum taken over the run's valid taps once per channel block.
struct QDwParams {
  int32_t a_zero_point = 0;
  const float* scale = nullptr;      // c
  const int32_t* bias_i32 = nullptr; // c, u8 output (null: none)
  const float* bias_f32 = nullptr;   // c, f32 output (null: none)
  bool out_u8 = true;
  int32_t out_zero_point = 0;
  int32_t qmin = 0, qmax = 255;      // u8 output bounds
  float lo = -__builtin_inff(), hi = __builtin_inff();  // f32 output bounds
};

// y: m * n * c u8 values or floats (per the params), pixel after pixel.
using QDwUkernel = void(size_t n, size_t c, const QDwTaps& taps, const QDwParams& p, void* y);
using QDwUkernelFn = QDwUkernel*;

// The taps of a run of pixels, float32 (as QDwTaps, strides in floats).
struct F32DwTaps {
  const float* x = nullptr;
  const float* w = nullptr;
  size_t rows = 0, cols = 0;
  size_t x_row = 0, x_pix = 0, w_row = 0, w_col = 0;
  std::ptrdiff_t ix0 = 0;
  size_t x_cols = 0;
  size_t sw = 1, dw = 1;
  size_t m = 1, x_next = 0;
};

// Pixels [lo, hi) of a run are its interior: all their window columns inside the input (a run
// with no window column has only interior pixels). In an anonymous namespace: each ISA
// translation unit gets its own copy (no ODR-shared inline code across -m flags).
struct DwInterior {
  size_t lo, hi;
};

namespace {

template <typename Taps>
DwInterior dw_interior(size_t n, const Taps& t) {
  if (t.cols == 0) return DwInterior{0, n};
  using idx = std::ptrdiff_t;
  const idx sw = static_cast<idx>(t.sw), nn = static_cast<idx>(n);
  idx lo = t.ix0 >= 0 ? 0 : (-t.ix0 + sw - 1) / sw;
  const idx room = static_cast<idx>(t.x_cols) - 1 - static_cast<idx>((t.cols - 1) * t.dw) - t.ix0;
  idx hi = room < 0 ? 0 : room / sw + 1;
  lo = lo < nn ? lo : nn;
  hi = hi < nn ? hi : nn;
  hi = hi > lo ? hi : lo;
  return DwInterior{static_cast<size_t>(lo), static_cast<size_t>(hi)};
}

// Whether input column ix (of a window) is inside the input.
template <typename Taps>
bool dw_column_in(const Taps& t, std::ptrdiff_t ix) {
  return ix >= 0 && static_cast<size_t>(ix) < t.x_cols;
}

}  // namespace

// y[(k * n + i) * c + j] = clamp(bias[j] (or 0) + sum over the taps of row k's pixel i of x * w,
// lo, hi), k < m, i < n, j < c.
using F32DwUkernel = void(size_t n, size_t c, const F32DwTaps& taps, const float* bias, float lo,
                          float hi, float* y);
using F32DwUkernelFn = F32DwUkernel*;

FNN_UKERNEL_SIG(DwconvF32, F32DwUkernel);
FNN_UKERNEL_SIG(DwconvQu8, QDwUkernel);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/conv/dwconv_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
