// Portable elementwise and row-wise float ops, built without -m flags.
// y may alias an input exactly (in place), so there is no __restrict on x / y: GCC's runtime
// overlap check treats a distance of 0 as safe and keeps the vector loop for in-place calls.
// No allocation; every op is a single pass. The u8 add and the softmax are dispatched
// micro-kernels (qu8_vadd.h, softmax_f32.h); these are their entry points.
#include "kernels/eltwise/eltwise.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/common/scalar_round.h"
#include "kernels/eltwise/qu8_vadd_config.h"
#include "kernels/eltwise/softmax_config.h"
#include "kernels/eltwise/unary_config.h"

namespace fnn {

void add_clamp_f32(size_t n, const float* a, const float* b, float* y, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) y[i] = clamp_select(a[i] + b[i], lo, hi);
}

void clamp_f32(size_t n, const float* x, float* y, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) y[i] = clamp_select(x[i], lo, hi);
}

void clamp_backward_f32(size_t n, const float* y, const float* dy, float* dx, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) dx[i] = (lo < y[i]) & (y[i] < hi) ? dy[i] : 0.f;  // no branch: vectorizes
}

void sigmoid_backward_f32(size_t n, const float* y, const float* dy, float* dx) {
  for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i]) * y[i];
}

QVaddParams add_qu8_params(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp, const QOutputStage& out) {
  QVaddParams p;
  p.a_zero_point = a_zp;
  p.b_zero_point = b_zp;
  p.out_u8 = out.u8;
  if (!out.u8) {
    p.a_mul = a_scale;
    p.b_mul = b_scale;
    p.lo = out.lo;
    p.hi = out.hi;
    return p;
  }
  p.a_mul = a_scale / out.scale;
  p.b_mul = b_scale / out.scale;
  p.out_zero_point = out.zero_point;
  p.lo = static_cast<float>(out.qmin - out.zero_point);
  p.hi = static_cast<float>(out.qmax - out.zero_point);
  return p;
}

void add_qu8(size_t n, const uint8_t* a, const uint8_t* b, const QVaddParams& p, void* y) {
  vadd_qu8_config().qu8(n, a, b, y, &p);
}

void clamp_u8(size_t n, const uint8_t* x, uint8_t* y, uint8_t lo, uint8_t hi) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

void apply_unary_rows(const UnaryEpilogue& e, float* y, size_t rows, size_t cols, size_t ldy) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < e.count; ++i) e.fn(cols, y + r * ldy, y + r * ldy, &e.args[i]);
  }
}

void softmax_rows_f32(size_t rows, size_t cols, const float* x, float* y) {
  if (rows != 0) softmax_config().f32(rows, cols, x, y);
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

namespace {

// Channel blocks of the per-channel reductions: the double accumulators live on the stack.
constexpr size_t kChannelBlock = 64;

}  // namespace

void channel_moments_f32(size_t rows, size_t c, const float* x, float* mean, float* var) {
  const double inv = rows != 0 ? 1.0 / static_cast<double>(rows) : 0.0;
  for (size_t c0 = 0; c0 < c; c0 += kChannelBlock) {
    const size_t cb = std::min(kChannelBlock, c - c0);
    double sum[kChannelBlock] = {}, sq[kChannelBlock] = {};
    for (size_t r = 0; r < rows; ++r) {
      const float* xr = x + r * c + c0;
      for (size_t j = 0; j < cb; ++j) sum[j] += static_cast<double>(xr[j]);
    }
    for (size_t j = 0; j < cb; ++j) sum[j] *= inv;  // the mean
    for (size_t r = 0; r < rows; ++r) {
      const float* xr = x + r * c + c0;
      for (size_t j = 0; j < cb; ++j) {
        const double d = static_cast<double>(xr[j]) - sum[j];
        sq[j] += d * d;
      }
    }
    for (size_t j = 0; j < cb; ++j) {
      mean[c0 + j] = static_cast<float>(sum[j]);
      var[c0 + j] = static_cast<float>(sq[j] * inv);
    }
  }
}

void channel_dot_f32(size_t rows, size_t c, const float* a, const float* b, float* sum_a, float* sum_ab) {
  for (size_t c0 = 0; c0 < c; c0 += kChannelBlock) {
    const size_t cb = std::min(kChannelBlock, c - c0);
    double sa[kChannelBlock] = {}, sab[kChannelBlock] = {};
    for (size_t r = 0; r < rows; ++r) {
      const float* ar = a + r * c + c0;
      const float* br = b + r * c + c0;
      for (size_t j = 0; j < cb; ++j) {
        sa[j] += static_cast<double>(ar[j]);
        sab[j] += static_cast<double>(ar[j]) * static_cast<double>(br[j]);
      }
    }
    for (size_t j = 0; j < cb; ++j) {
      sum_a[c0 + j] = static_cast<float>(sa[j]);
      sum_ab[c0 + j] = static_cast<float>(sab[j]);
    }
  }
}

void channel_affine2_f32(size_t rows, size_t c, const float* a, const float* b, const float* k, float* y) {
  const float* k0 = k;
  const float* k1 = k + c;
  const float* k2 = k + 2 * c;
  for (size_t r = 0; r < rows; ++r) {
    const float* __restrict ar = a + r * c;
    const float* __restrict br = b + r * c;
    float* __restrict yr = y + r * c;
    for (size_t j = 0; j < c; ++j) yr[j] = ar[j] * k0[j] + br[j] * k1[j] + k2[j];
  }
}

void dropout_mask(size_t n, uint64_t seed, float rate, uint8_t* keep, size_t i0) {
  // splitmix64 of seed + index: a full-period mix, so neighbouring indices are unrelated; the
  // top 24 bits give a uniform float in [0, 1), kept when >= rate (as torch's bernoulli(1 - p)).
  const auto threshold = static_cast<uint32_t>(static_cast<double>(rate) * 16777216.0);
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = seed + (static_cast<uint64_t>(i0 + i) + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    keep[i] = static_cast<uint32_t>(z >> 40) >= threshold ? 1 : 0;
  }
}

void mask_scale_f32(size_t n, const float* x, const uint8_t* keep, float scale, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = keep[i] != 0 ? x[i] * scale : 0.f;
}

void scale_shift_channels_f32(size_t pixels, size_t c, const float* x, const float* scale,
                              const float* shift, float* y, float lo, float hi) {
  const bool clamp = lo > -__builtin_inff() || hi < __builtin_inff();
  for (size_t p = 0; p < pixels; ++p) {
    const float* xr = x + p * c;
    float* yr = y + p * c;
    if (clamp) {
      for (size_t ch = 0; ch < c; ++ch) yr[ch] = clamp_select(xr[ch] * scale[ch] + shift[ch], lo, hi);
    } else {
      for (size_t ch = 0; ch < c; ++ch) yr[ch] = xr[ch] * scale[ch] + shift[ch];
    }
  }
}

}  // namespace fnn
