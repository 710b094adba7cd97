#include "runtime/steps/scale_shift.h"

#include "kernels/eltwise/eltwise.h"
#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

constexpr size_t kMinValues = 16384;  // per thread: below, a hand-off costs more than it saves

class ScaleShiftStep final : public StepKindWith<ScaleShiftParams> {
 public:
  const char* name() const override { return "scale_shift"; }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<ScaleShiftParams>();
    return (p.scale.size() + p.shift.size()) * sizeof(float);
  }
  void check_params(const StepCheck& c, const ScaleShiftParams& p) const override {
    c.unary(/*clamps=*/true);
    c.all_f32();
    const size_t ch = p.scale.size();
    c.expect(ch >= 1 && p.shift.size() == ch, "needs as many shifts as scales, at least one");
    c.expect(c.elems(c.step().out) % ch == 0, "channels do not tile the tensor");
  }
  void run_params(const StepRun& r, const ScaleShiftParams& p) const override {
    const size_t ch = p.scale.size();
    const Step& s = r.step;
    parallel_ranges(r.out_values() / ch, std::max<size_t>(1, kMinValues / ch), r.threads, [&](size_t b, size_t e) {
      scale_shift_channels_f32(e - b, ch, r.in() + b * ch, p.scale.data(), p.shift.data(), r.out() + b * ch, s.lo,
                               s.hi);
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(scale_shift_step, ScaleShiftStep)

}  // namespace fnn
