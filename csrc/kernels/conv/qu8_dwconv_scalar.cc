// The reference int8 depthwise kernel: every SIMD kernel must match it bit for bit.
#include <cmath>

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

// Two's-complement wrap, as SIMD adds do (no signed-overflow UB on absurd window sizes).
inline int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// maxps / minps semantics: the second operand when the comparison is false.
inline float x86_max(float a, float b) { return a > b ? a : b; }
inline float x86_min(float a, float b) { return a < b ? a : b; }

}  // namespace

void qu8_dwconv_ukernel__scalar(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  const float lo = static_cast<float>(int64_t{p.qmin} - p.out_zero_point);
  const float hi = static_cast<float>(int64_t{p.qmax} - p.out_zero_point);
  for (size_t k = 0; k < t.m; ++k) {
    const uint8_t* x = t.x + k * t.x_next;
    void* yk = static_cast<char*>(y) + k * n * c * (p.out_u8 ? 1 : sizeof(float));
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < c; ++j) {
        int32_t acc = 0;
        for (size_t r = 0; r < t.rows; ++r) {
          for (size_t q = 0; q < t.cols; ++q) {
            const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw + q * t.dw);
            if (!dw_column_in(t, ix)) continue;  // padding adds nothing
            const int32_t xv = x[r * t.x_row + static_cast<size_t>(ix) * t.x_pix + j];
            acc = wrap_add(acc, (xv - p.a_zero_point) * int32_t{t.w[r * t.w_row + q * t.w_col + j]});
          }
        }
        if (p.out_u8) {
          float f = static_cast<float>(wrap_add(acc, p.bias_i32 != nullptr ? p.bias_i32[j] : 0));
          f = f * p.scale[j];
          f = x86_min(x86_max(f, lo), hi);
          static_cast<uint8_t*>(yk)[i * c + j] =
              static_cast<uint8_t>(static_cast<int32_t>(std::nearbyint(f)) + p.out_zero_point);
        } else {
          float f = static_cast<float>(acc) * p.scale[j];
          if (p.bias_f32 != nullptr) f = f + p.bias_f32[j];
          f = x86_max(f, p.lo);
          f = x86_min(f, p.hi);
          static_cast<float*>(yk)[i * c + j] = f;
        }
      }
    }
  }
}

}  // namespace fnn
