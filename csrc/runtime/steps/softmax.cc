#include "runtime/steps/softmax.h"

#include "kernels/eltwise/eltwise.h"
#include "runtime/parallel.h"
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
    // Whole rows per task, each computed alone: the split never changes a value. From about
    // 4K values a task (the log_softmax step's grain).
    const float* x = r.in();
    float* y = r.out();
    parallel_ranges(r.out_values() / p.cols, (4096 + p.cols - 1) / p.cols, r.threads, [&](size_t b, size_t e) {
      softmax_rows_f32(e - b, p.cols, x + b * p.cols, y + b * p.cols);
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(softmax_step, SoftmaxStep)

}  // namespace fnn
