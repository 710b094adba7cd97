#include "runtime/steps/scale_shift.h"

#include "kernels/eltwise/eltwise.h"
#include "runtime/program.h"

namespace fnn {
namespace {

class ScaleShiftStep final : public StepKindWith<ScaleShiftParams> {
 public:
  const char* name() const override { return "scale_shift"; }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<ScaleShiftParams>();
    return (p.scale.size() + p.shift.size()) * sizeof(float);
  }
  void check_params(const StepCheck& c, const ScaleShiftParams& p) const override {
    c.unary();
    c.all_f32();
    const size_t ch = p.scale.size();
    c.expect(ch >= 1 && p.shift.size() == ch, "needs as many shifts as scales, at least one");
    c.expect(c.elems(c.step().out) % ch == 0, "channels do not tile the tensor");
  }
  void run_params(const StepRun& r, const ScaleShiftParams& p) const override {
    const size_t ch = p.scale.size();
    scale_shift_channels_f32(r.out_values() / ch, ch, r.in(), p.scale.data(), p.shift.data(), r.out());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(scale_shift_step, ScaleShiftStep)

}  // namespace fnn
