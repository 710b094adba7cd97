// to_nhwc / to_nchw: one sample of c x hw values transposed.
#include "runtime/steps/layout.h"

#include "kernels/conv/conv_nhwc.h"
#include "runtime/step_kind.h"

namespace fnn {
namespace {

template <bool kToNhwc>
class LayoutStep final : public StepKindWith<LayoutParams> {
 public:
  const char* name() const override { return kToNhwc ? "to_nhwc" : "to_nchw"; }
  void check_params(const StepCheck& c, const LayoutParams& p) const override {
    c.unary_sized(StepCheck::product({p.c, p.hw}));
    c.all_f32();
  }
  void run_params(const StepRun& r, const LayoutParams& p) const override {
    (kToNhwc ? nchw_to_nhwc : nhwc_to_nchw)(r.batch, p.c, p.hw, r.in(), r.out());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(to_nhwc_step, LayoutStep<true>)
FNN_DEFINE_STEP_KIND(to_nchw_step, LayoutStep<false>)

}  // namespace fnn
