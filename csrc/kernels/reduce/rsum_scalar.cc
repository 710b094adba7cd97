#include "kernels/reduce/rsum.h"

namespace fnn {

uint64_t u8_rsum_ukernel__scalar(const uint8_t* x, size_t n) {
  uint64_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc += x[i];
  return acc;
}

float f32_rsum_ukernel__scalar(const float* x, size_t n) {
  // Four independent accumulators: the same association shape as the SIMD paths' lanes,
  // and no loop-carried dependency on one register.
  float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += x[i + 0];
    a1 += x[i + 1];
    a2 += x[i + 2];
    a3 += x[i + 3];
  }
  for (; i < n; ++i) a0 += x[i];
  return (a0 + a1) + (a2 + a3);
}

}  // namespace fnn
