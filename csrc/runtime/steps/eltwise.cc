// Element-wise float32 steps without parameters: clamp (ReLU, ReLU6, Clip not fused into a
// producer; a copy when unbounded) and sigmoid.
#include "kernels/eltwise/eltwise.h"
#include "runtime/program.h"

namespace fnn {
namespace {

class ClampStep final : public StepKindImpl {
 public:
  const char* name() const override { return "clamp"; }
  void check(const StepCheck& c) const override {
    c.no_params();
    c.unary(/*clamps=*/true);
    c.all_f32();
  }
  void run(const StepRun& r) const override { clamp_f32(r.out_values(), r.in(), r.out(), r.step.lo, r.step.hi); }
};

}  // namespace

FNN_DEFINE_STEP_KIND(clamp_step, ClampStep)
FNN_DEFINE_UNARY_F32_STEP(sigmoid_step, "sigmoid", sigmoid_f32)

}  // namespace fnn
