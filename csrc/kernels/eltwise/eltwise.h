// Elementwise and row-wise float32 (and u8 clamp) ops of the graph runtime. y may alias x (in place).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

// y = clamp(a + b, lo, hi)
void add_clamp_f32(size_t n, const float* a, const float* b, float* y, float lo, float hi);
// y = clamp(x, lo, hi)
void clamp_f32(size_t n, const float* x, float* y, float lo, float hi);
// y = min(max(x, lo), hi) on u8 values (a clamp in the quantized domain)
void clamp_u8(size_t n, const uint8_t* x, uint8_t* y, uint8_t lo, uint8_t hi);
// y = 1 / (1 + exp(-x)), accurate to a few ulp, saturating cleanly for |x| large
void sigmoid_f32(size_t n, const float* x, float* y);
// Per row of `cols`: y = exp(x - max) / sum(exp(x - max)). Rows are `cols` apart.
void softmax_rows_f32(size_t rows, size_t cols, const float* x, float* y);
// Channels last: y[p][ch] = x[p][ch] * scale[ch] + shift[ch] for `pixels` rows of c.
void scale_shift_channels_f32(size_t pixels, size_t c, const float* x, const float* scale,
                              const float* shift, float* y);

}  // namespace fnn
