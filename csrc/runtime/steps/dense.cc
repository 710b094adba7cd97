#include "runtime/steps/dense.h"

#include "runtime/program.h"
#include "runtime/steps/int8_output.h"
#include "runtime/steps/unary.h"

namespace fnn {
namespace {

class DenseStep final : public Int8LayerStep<DenseParams> {
 public:
  const char* name() const override { return "dense"; }
  std::string label(const Step& s) const override {
    return "dense" + fused_label(s.params_as<DenseParams>().post);
  }
  const char* precision(const Step& s) const override {
    return weight_kind_name(s.params_as<DenseParams>().weights->kind());
  }
  size_t weight_bytes(const Step& s) const override { return s.params_as<DenseParams>().weights->nbytes(); }
  void check_params(const StepCheck& c, const DenseParams& p) const override {
    const Step& s = c.step();
    c.inputs(1);
    c.expect(p.weights != nullptr, "has no packed weights");
    c.packed_gemm({p.weights}, 1, c.elems(s.in[0]), c.elems(s.out), p.input);
    c.fused_unary(p.post);
  }
  void prepare_int8(const Step& s, DenseParams& p, const TensorInfo& out) const override {
    p.qargs = int8_output_args(s, p.input, out);
    p.columns = qgemm_columns(*p.weights, p.qargs);
  }
  void run_params(const StepRun& r, const DenseParams& p) const override {
    const Step& s = r.step;
    const PackedWeights& w = *p.weights;
    const UnaryEpilogue post = unary_epilogue(p.post);
    if (w.kind() == WeightKind::kInt8) {
      gemm_int8(r.in<void>(), r.batch, w.k(), w, r.out<void>(), w.n(), p.qargs, &p.columns);
      finish_int8_clamp(s, r.out_info(), r.out<void>(), r.batch, w.n(), w.n());
      if (!p.post.empty()) apply_unary_rows(post, r.out(), r.batch, w.n(), w.n());
    } else {
      gemm_float(r.in(), r.batch, w.k(), w, r.out(), w.n(), Activation{s.lo, s.hi, !p.post.empty() ? &post : nullptr},
                 false);
    }
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(dense_step, DenseStep)

}  // namespace fnn
