#include "runtime/steps/concat.h"

#include <cstring>

#include "runtime/program.h"

namespace fnn {
namespace {

class ConcatStep final : public StepKindWith<ConcatParams> {
 public:
  const char* name() const override { return "concat"; }
  void check_params(const StepCheck& c, const ConcatParams& p) const override {
    const Step& s = c.step();
    c.no_clamp();
    c.expect(!s.in.empty() && s.in.size() == p.parts.size(), "needs one part per input");
    c.all_f32();
    size_t sum = 0;
    for (size_t part : p.parts) {
      c.expect(part >= 1 && part <= StepCheck::kMaxDim, "a part outside [1, 2^24] values");
      sum += part;
    }
    c.expect(c.elems(s.out) % sum == 0, "parts do not tile the output");
    const size_t runs = c.elems(s.out) / sum;
    for (size_t j = 0; j < s.in.size(); ++j) c.size_is(s.in[j], StepCheck::product({runs, p.parts[j]}), "an input");
  }
  void run_params(const StepRun& r, const ConcatParams& p) const override {
    size_t sum = 0;
    for (size_t part : p.parts) sum += part;
    const size_t runs = r.out_values() / sum;
    float* y = r.out();
    size_t off = 0;
    for (size_t j = 0; j < p.parts.size(); ++j) {
      const float* src = r.in(j);
      const size_t n = p.parts[j];
      for (size_t i = 0; i < runs; ++i) std::memcpy(y + i * sum + off, src + i * n, n * sizeof(float));
      off += n;
    }
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(concat_step, ConcatStep)

}  // namespace fnn
