// Depthwise convolution micro-kernels (NHWC). A micro-kernel computes a RUN of n output
// pixels over all their channels: pixels whose windows have the same valid taps (the interior
// of an output row, or one edge pixel), the input of pixel i starting i * x_step elements
// after pixel 0's (x_step = stride * channels), the outputs consecutive (pixel i at y + i * c).
// Batching the pixels of a row lets a kernel loop over channel blocks outside and pixels inside,
// keep a block's weights in registers across the run, and, where the stride lets windows
// overlap, reuse the input columns it already loaded (conv_nhwc.cc's driver groups each output
// row into its left edge pixels, the interior run and its right edge pixels).
//
// Only the taps that fall inside the input are visited: taps in the padding add nothing (a
// zero, or for u8 (zero_point - zero_point) * w = 0), so skipping them is exact. A run may have
// no valid tap at all (rows or cols 0, a window wholly in the padding): its outputs are the
// output stage of a zero sum.
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

// The valid taps of a run of pixels: a rows x cols block of the kh x kw window, the same for
// every pixel of the run. Strides in elements (bytes for u8 / s8).
struct QDwTaps {
  const uint8_t* x = nullptr;  // input channels of pixel 0's first valid tap
  const int8_t* w = nullptr;   // weights [.][.][c] of that tap
  size_t rows = 0, cols = 0;   // valid taps: window rows x window columns
  size_t x_row = 0;            // between the input of vertically adjacent taps (dh*W*C)
  size_t x_col = 0;            // ... of horizontally adjacent taps (dw*C)
  size_t w_row = 0;            // between weight rows of the window (kw*C)
  size_t w_col = 0;            // ... of adjacent weight columns (C)
  size_t x_step = 0;           // between the first taps of consecutive pixels (sw*C)
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

// y: n * c u8 values or floats (per the params), pixel after pixel.
using QDwUkernel = void(size_t n, size_t c, const QDwTaps& taps, const QDwParams& p, void* y);
using QDwUkernelFn = QDwUkernel*;

// The valid taps of a run of pixels, float32 (strides in floats, as in QDwTaps).
struct F32DwTaps {
  const float* x = nullptr;
  const float* w = nullptr;
  size_t rows = 0, cols = 0;
  size_t x_row = 0, x_col = 0, w_row = 0, w_col = 0;
  size_t x_step = 0;
};

// y[i * c + j] = clamp(bias[j] (or 0) + sum over pixel i's taps of x * w, lo, hi), i < n, j < c.
using F32DwUkernel = void(size_t n, size_t c, const F32DwTaps& taps, const float* bias, float lo,
                          float hi, float* y);
using F32DwUkernelFn = F32DwUkernel*;

FNN_UKERNEL_SIG(DwconvF32, F32DwUkernel);
FNN_UKERNEL_SIG(DwconvQu8, QDwUkernel);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/conv/dwconv_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
