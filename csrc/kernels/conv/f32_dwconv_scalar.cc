// The portable f32 depthwise micro-kernel: plain loops over the contiguous channels (the
// compiler vectorizes them with the baseline ISA), one pixel after another.
#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {

void f32_dwconv_ukernel__scalar(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo,
                                float hi, float* y) {
  for (size_t k = 0; k < t.m; ++k) {
    const float* x = t.x + k * t.x_next;
    for (size_t i = 0; i < n; ++i) {
      // The output is the accumulator: it stays in L1 across the taps.
      float* __restrict acc = y + (k * n + i) * c;
      for (size_t j = 0; j < c; ++j) acc[j] = bias != nullptr ? bias[j] : 0.f;
      for (size_t r = 0; r < t.rows; ++r) {
        for (size_t q = 0; q < t.cols; ++q) {
          const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw + q * t.dw);
          if (!dw_column_in(t, ix)) continue;  // padding adds nothing
          const float* __restrict xr = x + r * t.x_row + static_cast<size_t>(ix) * t.x_pix;
          const float* __restrict wr = t.w + r * t.w_row + q * t.w_col;
          for (size_t j = 0; j < c; ++j) acc[j] += xr[j] * wr[j];
        }
      }
      // The GEMM epilogue's comparison form (maxps / minps order): NaN passes through.
      for (size_t j = 0; j < c; ++j) {
        float v = acc[j];
        v = v < lo ? lo : v;
        acc[j] = v > hi ? hi : v;
      }
    }
  }
}

}  // namespace fnn
