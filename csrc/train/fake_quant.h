// Fake quantization for quantization-aware training: float in, float out, with the values
// rounded to the int8 grid the int8 runtime will use, so training sees the quantization error
// while gradients stay float (the straight-through estimator).
//
// * Activations, u8 asymmetric (the runtime's QuantizeLinear: q = clamp(round(x / scale) + zp,
//   0, 255), round half to even): y = (q - zp) * scale. keep[i] = 1 where round(x / scale) + zp
//   was already inside [0, 255] (the value was representable, so the gradient passes), 0 where
//   the clamp cut it (the gradient stops); NaN is never kept.
// * Weights, s8 symmetric per row (a row = one output channel) or per tensor, the scale from
//   the current values as compress.quantize computes it: scale = max|w| / 127 (1 for an
//   all-zero row), wq = clamp(round(w / scale), -127, 127) * scale. max|w| is always on the
//   grid, so nothing is clipped and the weight gradient passes unchanged.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

// y = fake-quantized x over n values; keep may be null (no mask wanted). y may be x.
void fake_quant_u8_f32(size_t n, const float* x, float scale, int32_t zero_point, float* y,
                       uint8_t* keep);

// wq (rows x cols, row-major) = w fake-quantized to s8 with one scale per row, or one scale
// over all of w when per_tensor. wq may be w.
void fake_quant_s8_f32(size_t rows, size_t cols, const float* w, bool per_tensor, float* wq);

}  // namespace fnn
