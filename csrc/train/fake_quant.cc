#include "train/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/scalar_round.h"
#include "runtime/parallel.h"

namespace fnn {
namespace {

constexpr size_t kMinChunk = size_t{1} << 15;  // values per task, at least

size_t threads() { return in_parallel_task() ? 1 : get_num_threads(); }

// Two loops, so that the one without the mask has no store the vectorizer must keep apart.
void fake_quant_u8_range(size_t n, const float* x, float scale, float zp, float* y, uint8_t* keep) {
  if (keep == nullptr) {
    for (size_t i = 0; i < n; ++i) {
      const float r = round_half_even_small(x[i] / scale) + zp;  // division, as the runtime's QuantizeLinear
      y[i] = (clamp_select(r, 0.f, 255.f) - zp) * scale;
    }
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const float r = round_half_even_small(x[i] / scale) + zp;
    keep[i] = static_cast<uint8_t>((r >= 0.f) & (r <= 255.f));
    y[i] = (clamp_select(r, 0.f, 255.f) - zp) * scale;
  }
}

// max|w| / 127 (1 when all zero). The max runs on the bits: with the sign cleared, a float's
// bits order as its value does, and an integer max vectorizes where a float one (NaN rules)
// does not. A NaN weight gives a NaN scale, so the loss shows the divergence.
float row_scale(size_t n, const float* w) {
  int32_t amax = 0;
  for (size_t i = 0; i < n; ++i) {
    int32_t bits;
    std::memcpy(&bits, w + i, sizeof bits);
    bits &= 0x7fffffff;
    amax = bits > amax ? bits : amax;
  }
  float a;
  std::memcpy(&a, &amax, sizeof a);
  return a > 0.f || a != a ? a / 127.f : 1.f;
}

void fake_quant_s8_row(size_t n, const float* w, float scale, float* wq) {
  for (size_t i = 0; i < n; ++i) wq[i] = clamp_select(round_half_even_small(w[i] / scale), -127.f, 127.f) * scale;
}

}  // namespace

void fake_quant_u8_f32(size_t n, const float* x, float scale, int32_t zero_point, float* y,
                       uint8_t* keep) {
  const auto zp = static_cast<float>(zero_point);
  parallel_ranges(n, kMinChunk, threads(), [&](size_t b, size_t e) {
    fake_quant_u8_range(e - b, x + b, scale, zp, y + b, keep == nullptr ? nullptr : keep + b);
  });
}

void fake_quant_s8_f32(size_t rows, size_t cols, const float* w, bool per_tensor, float* wq) {
  if (per_tensor) {
    const float scale = row_scale(rows * cols, w);
    fake_quant_s8_row(rows * cols, w, scale, wq);
    return;
  }
  const size_t min_rows = std::max<size_t>(1, kMinChunk / std::max<size_t>(1, cols));
  parallel_ranges(rows, min_rows, threads(), [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) {
      fake_quant_s8_row(cols, w + r * cols, row_scale(cols, w + r * cols), wq + r * cols);
    }
  });
}

}  // namespace fnn
