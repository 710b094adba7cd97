#include "runtime/steps/sparse_dense.h"

#include "kernels/sparse/spmm.h"
#include "runtime/program.h"

namespace fnn {
namespace {

class SparseDenseStep final : public StepKindWith<SparseDenseParams> {
 public:
  const char* name() const override { return "sparse_dense"; }
  const char* precision(const Step&) const override { return "sparse"; }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<SparseDenseParams>();
    return p.matrix->nbytes() + p.bias.size() * sizeof(float);
  }
  void check_params(const StepCheck& c, const SparseDenseParams& p) const override {
    const Step& s = c.step();
    c.inputs(1);
    c.expect(p.matrix != nullptr, "has no sparse matrix");
    c.all_f32();
    c.size_is(s.in[0], p.matrix->cols(), "the input");
    c.size_is(s.out, p.matrix->rows(), "the output");
    c.expect(p.bias.empty() || p.bias.size() == p.matrix->rows(), "bias length is not the rows");
  }
  void run_params(const StepRun& r, const SparseDenseParams& p) const override {
    SpmmEpilogue ep;
    ep.bias = p.bias.empty() ? nullptr : p.bias.data();
    ep.min = r.step.lo;
    ep.max = r.step.hi;
    spmm_linear(*p.matrix, r.in(), r.batch, p.matrix->cols(), r.out(), p.matrix->rows(), ep);
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(sparse_dense_step, SparseDenseStep)

}  // namespace fnn
