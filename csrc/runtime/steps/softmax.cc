#include "runtime/steps/softmax.h"

#include "kernels/eltwise/eltwise.h"
#include "runtime/program.h"

namespace fnn {
namespace {

class SoftmaxStep final : public StepKindWith<SoftmaxParams> {
 public:
  const char* name() const override { return "softmax"; }
  void check_params(const StepCheck& c, const SoftmaxParams& p) const override {
    c.unary();
    c.all_f32();
    c.expect(p.cols >= 1 && c.elems(c.step().out) % p.cols == 0, "rows of cols values do not tile the tensor");
  }
  void run_params(const StepRun& r, const SoftmaxParams& p) const override {
    softmax_rows_f32(r.out_values() / p.cols, p.cols, r.in(), r.out());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(softmax_step, SoftmaxStep)

}  // namespace fnn
