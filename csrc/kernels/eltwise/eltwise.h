// Elementwise and row-wise float32 (and u8 clamp) ops of the graph runtime. y may alias x (in place).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/eltwise/qu8_vadd.h"

namespace fnn {

// The output stage of the u8 element-wise ops (an int8 Add or global average pool): u8 with
// (scale, zero_point), clamped to [qmin, qmax] before rounding half to even (as the int8
// GEMM's epilogue), or float32 clamped to [lo, hi].
struct QOutputStage {
  bool u8 = true;
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;
  float lo = -__builtin_inff(), hi = __builtin_inff();
};

// y = a_scale * (a - a_zp) + b_scale * (b - b_zp) through `out` (ONNX QLinearAdd); for a u8
// output each term is scaled by its input scale / out.scale, then summed, in float.
// add_qu8_params builds a step's constants once; add_qu8 runs the active level's kernel on
// one range (qu8_vadd.h), so a step can split the elements over threads.
QVaddParams add_qu8_params(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp, const QOutputStage& out);
void add_qu8(size_t n, const uint8_t* a, const uint8_t* b, const QVaddParams& p, void* y);
// y = clamp(a + b, lo, hi)
void add_clamp_f32(size_t n, const float* a, const float* b, float* y, float lo, float hi);
// y = clamp(x, lo, hi)
void clamp_f32(size_t n, const float* x, float* y, float lo, float hi);
// y = min(max(x, lo), hi) on u8 values (a clamp in the quantized domain)
void clamp_u8(size_t n, const uint8_t* x, uint8_t* y, uint8_t lo, uint8_t hi);
// Training: dx = dy where lo < y < hi, else 0 (y the clamp's output). dx may be dy.
void clamp_backward_f32(size_t n, const float* y, const float* dy, float* dx, float lo, float hi);
// Training: dx = dy * (1 - y) * y (y the sigmoid's output; torch's order). dx may be dy.
void sigmoid_backward_f32(size_t n, const float* y, const float* dy, float* dx);
// Per row of `cols`: y = exp(x - max) / sum(exp(x - max)). Rows are `cols` apart. The active
// level's kernel (softmax_f32.h, which says what it guarantees).
void softmax_rows_f32(size_t rows, size_t cols, const float* x, float* y);
// dx = y * (dy - sum(dy * y)) per row of `cols` (y: the softmax's output).
void softmax_backward_f32(size_t rows, size_t cols, const float* y, const float* dy, float* dx);
// The summed cross-entropy -log softmax(z)[label] of each row (in double), and
// dz = scale * (softmax(z) - onehot(label)). Labels must be in [0, cols) (the caller checks).
double softmax_cross_entropy_f32(size_t rows, size_t cols, const float* z, const int64_t* labels,
                                 float* dz, float scale);
// Per-channel statistics over the rows of an (rows, c) channels-last tensor, accumulated in
// double (in row order: the result does not depend on threads). channel_moments: the mean and
// the biased variance (two passes). channel_dot: sum(a) and sum(a * b) per channel.
void channel_moments_f32(size_t rows, size_t c, const float* x, float* mean, float* var);
void channel_dot_f32(size_t rows, size_t c, const float* a, const float* b, float* sum_a, float* sum_ab);
// y = a * k0 + b * k1 + k2 per channel (k: 3 x c), over rows [0, rows).
void channel_affine2_f32(size_t rows, size_t c, const float* a, const float* b, const float* k, float* y);
// Dropout. keep[i] = 1 with probability 1 - rate, from a counter-based hash of (seed, i): the
// same seed gives the same mask whatever the threads. mask_scale: y = keep ? x * scale : 0.
void dropout_mask(size_t n, uint64_t seed, float rate, uint8_t* keep, size_t i0);
void mask_scale_f32(size_t n, const float* x, const uint8_t* keep, float scale, float* y);
// Channels last: y[p][ch] = clamp(x[p][ch] * scale[ch] + shift[ch], lo, hi) for `pixels` rows
// of c (a BatchNorm and the ReLU / Clip after it).
void scale_shift_channels_f32(size_t pixels, size_t c, const float* x, const float* scale,
                              const float* shift, float* y, float lo = -__builtin_inff(),
                              float hi = __builtin_inff());

}  // namespace fnn
