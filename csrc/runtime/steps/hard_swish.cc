// hard_swish: y = x * clamp(x / 6 + 1/2, 0, 1) (ONNX HardSwish; MobileNetV3's activation).
// The kernel is a portable loop the compiler vectorizes at the build's baseline ISA; NaN stays
// NaN (the comparisons are false for it).
#include "runtime/program.h"

namespace fnn {
namespace {

void hard_swish_f32(size_t n, const float* x, float* y) {
  for (size_t i = 0; i < n; ++i) {
    float t = x[i] * (1.0f / 6.0f) + 0.5f;
    t = t < 0.0f ? 0.0f : t;
    t = t > 1.0f ? 1.0f : t;
    y[i] = x[i] * t;
  }
}

}  // namespace

FNN_DEFINE_UNARY_F32_STEP(hard_swish_step, "hard_swish", hard_swish_f32)

}  // namespace fnn
