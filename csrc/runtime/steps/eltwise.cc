// clamp: ReLU, ReLU6 or Clip not fused into a producer (a copy when unbounded).
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

}  // namespace fnn
