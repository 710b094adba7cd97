// log_softmax: y = x - max - log(sum(exp(x - max))) over rows of `cols` values (ONNX
// LogSoftmax). Computed directly, not as log(softmax): a probability that underflows to 0
// in float32 still has a finite log here.
#include <cmath>

#include "runtime/parallel.h"
#include "runtime/program.h"
#include "runtime/steps/softmax.h"

namespace fnn {
namespace {

void log_softmax_rows_f32(size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    float m = in[0];
    for (size_t j = 1; j < cols; ++j) m = in[j] > m ? in[j] : m;
    double sum = 0.0;  // in double, as softmax's: a float sum drifts over long rows
    for (size_t j = 0; j < cols; ++j) sum += static_cast<double>(std::exp(in[j] - m));
    // (x - max) first: that difference is exact near the max, where m + log(sum) would round
    // at m's magnitude (rows around 1e4 lose 1e-3).
    const float lse = static_cast<float>(std::log(sum));
    for (size_t j = 0; j < cols; ++j) out[j] = (in[j] - m) - lse;
  }
}

class LogSoftmaxStep final : public StepKindWith<SoftmaxParams> {
 public:
  const char* name() const override { return "log_softmax"; }
  void check_params(const StepCheck& c, const SoftmaxParams& p) const override {
    c.unary();
    c.all_f32();
    c.expect(p.cols >= 1 && c.elems(c.step().out) % p.cols == 0, "rows of cols values do not tile the tensor");
  }
  void run_params(const StepRun& r, const SoftmaxParams& p) const override {
    const size_t rows = r.out_values() / p.cols;
    parallel_ranges(rows, (4096 + p.cols - 1) / p.cols, r.threads, [&](size_t b, size_t e) {
      log_softmax_rows_f32(e - b, p.cols, r.in() + b * p.cols, r.out() + b * p.cols);
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(log_softmax_step, LogSoftmaxStep)

}  // namespace fnn
