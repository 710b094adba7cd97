#include <cmath>

#include "kernels/quant/quant.h"

namespace fnn {

bool f32_minmax_ukernel__scalar(const float* x, size_t n, float* lo, float* hi) {
  float l = *lo, h = *hi;
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    l = v < l ? v : l;
    h = v > h ? v : h;
    finite &= (v - v) == 0.f;  // false for NaN and +-inf
  }
  *lo = l;
  *hi = h;
  return finite;
}

void f32_qu8_ukernel__scalar(const float* x, size_t n, float scale, int32_t zero_point,
                             uint8_t* y) {
  for (size_t i = 0; i < n; ++i) {
    int32_t q = static_cast<int32_t>(std::nearbyint(x[i] / scale)) + zero_point;
    q = q < 0 ? 0 : q;
    q = q > 255 ? 255 : q;
    y[i] = static_cast<uint8_t>(q);
  }
}

}  // namespace fnn
