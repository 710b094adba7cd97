// Portable elementwise and row-wise float ops, built without -m flags.
// y may alias an input exactly (in place), so there is no __restrict on x / y: GCC's runtime
// overlap check treats a distance of 0 as safe and keeps the vector loop for in-place calls.
// No allocation; every op is a single pass (softmax: three passes over one row).
#include "kernels/eltwise/eltwise.h"

#include <cmath>
#include <cstddef>

namespace fnn {
namespace {

// nearbyint for |v| <= 2^22 (round half to even in the default rounding mode) without the
// libm call std::nearbyint becomes on baseline x86-64 (no SSE4.1 roundss), so loops using it
// vectorize: adding 1.5 * 2^23 leaves no fraction bits, and the constant is even.
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// Same comparison form as the GEMM epilogue so every clamp in the runtime agrees: NaN passes
// through, and GCC turns each select into one maxps / minps.
inline float clamp1(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

}  // namespace

void add_clamp_f32(size_t n, const float* a, const float* b, float* y, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) y[i] = clamp1(a[i] + b[i], lo, hi);
}

void clamp_f32(size_t n, const float* x, float* y, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) y[i] = clamp1(x[i], lo, hi);
}

void clamp_backward_f32(size_t n, const float* y, const float* dy, float* dx, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) dx[i] = (lo < y[i]) & (y[i] < hi) ? dy[i] : 0.f;  // no branch: vectorizes
}

void sigmoid_backward_f32(size_t n, const float* y, const float* dy, float* dx) {
  for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i]) * y[i];
}

void add_qu8(size_t n, const uint8_t* a, float a_scale, int32_t a_zp, const uint8_t* b,
             float b_scale, int32_t b_zp, const QOutputStage& out, void* y) {
  if (!out.u8) {
    auto* yf = static_cast<float*>(y);
    for (size_t i = 0; i < n; ++i) {
      float f = static_cast<float>(int32_t{a[i]} - a_zp) * a_scale;
      f = f + static_cast<float>(int32_t{b[i]} - b_zp) * b_scale;
      f = f > out.lo ? f : out.lo;
      yf[i] = f < out.hi ? f : out.hi;
    }
    return;
  }
  // Locals only: stores through a uint8_t pointer may alias anything, so reading `out`'s
  // fields in the loop would reload them every element and keep it scalar.
  const float ra = a_scale / out.scale, rb = b_scale / out.scale;
  const int32_t zp = out.zero_point;
  const float lo = static_cast<float>(out.qmin - zp);
  const float hi = static_cast<float>(out.qmax - zp);
  auto* yq = static_cast<uint8_t*>(y);
  for (size_t i = 0; i < n; ++i) {
    float f = static_cast<float>(int32_t{a[i]} - a_zp) * ra;
    f = f + static_cast<float>(int32_t{b[i]} - b_zp) * rb;
    f = f > lo ? f : lo;
    f = f < hi ? f : hi;
    yq[i] = static_cast<uint8_t>(static_cast<int32_t>(round_small(f)) + zp);
  }
}

void clamp_u8(size_t n, const uint8_t* x, uint8_t* y, uint8_t lo, uint8_t hi) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

void sigmoid_f32(size_t n, const float* x, float* y) {
  // exp(-|x|) never overflows. For x < 0, 1 / (1 + exp(-x)) would round to 0 once exp(-x)
  // overflows (x < -88.7) although the true value is still a normal/denormal float, so that
  // side uses e / (1 + e) instead. x = +-inf gives 1 / 0 and NaN stays NaN.
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float e = std::exp(-std::fabs(v));
    const float r = 1.0f / (1.0f + e);
    y[i] = v < 0.0f ? e * r : r;
  }
}

void softmax_rows_f32(size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    float m = in[0];
    for (size_t j = 1; j < cols; ++j) m = in[j] > m ? in[j] : m;
    // Reading in[j] before writing out[j] keeps this correct in place. The sum is in double:
    // exp is the cost here, and a float sum drifts over long rows (e.g. 1000 classes).
    double sum = 0.0;
    for (size_t j = 0; j < cols; ++j) {
      const float e = std::exp(in[j] - m);
      out[j] = e;
      sum += static_cast<double>(e);
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t j = 0; j < cols; ++j) out[j] *= inv;
  }
}

void softmax_backward_f32(size_t rows, size_t cols, const float* y, const float* dy, float* dx) {
  for (size_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    double dot = 0.0;
    for (size_t j = 0; j < cols; ++j) dot += static_cast<double>(dyr[j]) * yr[j];
    const float d = static_cast<float>(dot);
    for (size_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - d);
  }
}

double softmax_cross_entropy_f32(size_t rows, size_t cols, const float* z, const int64_t* labels,
                                 float* dz, float scale) {
  double total = 0.0;
  for (size_t r = 0; r < rows; ++r) {
    const float* zr = z + r * cols;
    float* g = dz + r * cols;
    float m = zr[0];
    for (size_t j = 1; j < cols; ++j) m = zr[j] > m ? zr[j] : m;
    double sum = 0.0;
    for (size_t j = 0; j < cols; ++j) {
      const float e = std::exp(zr[j] - m);
      g[j] = e;
      sum += static_cast<double>(e);
    }
    const auto label = static_cast<size_t>(labels[r]);
    // -log softmax(z)[label] = log(sum) - (z[label] - max)
    total += std::log(sum) - static_cast<double>(zr[label] - m);
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t j = 0; j < cols; ++j) g[j] = g[j] * inv;
    g[label] -= 1.f;
    for (size_t j = 0; j < cols; ++j) g[j] *= scale;
  }
  return total;
}

void scale_shift_channels_f32(size_t pixels, size_t c, const float* x, const float* scale,
                              const float* shift, float* y) {
  for (size_t p = 0; p < pixels; ++p) {
    const float* xr = x + p * c;
    float* yr = y + p * c;
    for (size_t ch = 0; ch < c; ++ch) yr[ch] = xr[ch] * scale[ch] + shift[ch];
  }
}

}  // namespace fnn
