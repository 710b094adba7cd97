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

class HardSwishStep final : public StepKindImpl {
 public:
  const char* name() const override { return "hard_swish"; }
  void check(const StepCheck& c) const override {
    c.no_params();
    c.unary();
    c.all_f32();
  }
  void run(const StepRun& r) const override { hard_swish_f32(r.out_values(), r.in(), r.out()); }
};

}  // namespace

FNN_DEFINE_STEP_KIND(hard_swish_step, HardSwishStep)

}  // namespace fnn
