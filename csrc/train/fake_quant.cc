#include "train/fake_quant.h"

#include <algorithm>
#include <cmath>

#include "runtime/parallel.h"

namespace fnn {
namespace {

constexpr size_t kMinChunk = size_t{1} << 15;  // values per task, at least

size_t threads() { return in_parallel_task() ? 1 : get_num_threads(); }

// Round half to even without a libm call (and vectorizable): adding 1.5 * 2^23 leaves no
// fraction bits, so the FPU's default rounding (to nearest even) does the work. Exact for
// |v| <= 2^22; larger values are clamped first, which changes no result (they clamp to a u8
// or s8 bound anyway). NaN passes through.
inline float round_even(float v) {
  constexpr float kBig = 4194304.f, kMagic = 12582912.f;
  v = v < -kBig ? -kBig : (v > kBig ? kBig : v);
  return (v + kMagic) - kMagic;
}

void fake_quant_u8_range(size_t n, const float* x, float scale, float zp, float* y, uint8_t* keep) {
  for (size_t i = 0; i < n; ++i) {
    const float r = round_even(x[i] / scale) + zp;  // division, as the runtime's QuantizeLinear
    if (keep != nullptr) keep[i] = static_cast<uint8_t>(r >= 0.f && r <= 255.f);
    const float q = r < 0.f ? 0.f : (r > 255.f ? 255.f : r);
    y[i] = (q - zp) * scale;
  }
}

float row_scale(size_t n, const float* w) {
  float amax = 0.f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
  return amax > 0.f ? amax / 127.f : 1.f;
}

void fake_quant_s8_row(size_t n, const float* w, float scale, float* wq) {
  for (size_t i = 0; i < n; ++i) {
    float q = round_even(w[i] / scale);
    q = q < -127.f ? -127.f : (q > 127.f ? 127.f : q);
    wq[i] = q * scale;
  }
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
    for (size_t r = b; r < e; ++r) fake_quant_s8_row(cols, w + r * cols, row_scale(cols, w + r * cols), wq + r * cols);
  });
}

}  // namespace fnn
