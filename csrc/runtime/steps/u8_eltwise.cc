// Element-wise steps that read float32 or u8 inputs (each with its own parameters, as ONNX's
// QLinearAdd / QLinearGlobalAveragePool): add (y = clamp(a + b)) and global_avgpool (the mean
// over the pixels of each channel; u8: exact integer sums, requantized).
#include "kernels/conv/conv_nhwc.h"
#include "kernels/eltwise/eltwise.h"
#include "runtime/program.h"
#include "runtime/steps/int8_output.h"
#include "runtime/steps/u8_inputs.h"

namespace fnn {
namespace {

// What both kinds share: the u8 plumbing of their inputs_u8.
template <typename P>
class U8EltwiseStep : public StepKindWith<P> {
 public:
  const char* precision(const Step& s) const override {
    return s.params_as<P>().inputs_u8.empty() ? "f32" : "int8";
  }
  bool reads_u8(const Step& s, size_t k, QuantIn* q) const override {
    const auto* p = s.try_params<P>();
    if (p == nullptr || k >= p->inputs_u8.size()) return false;
    *q = p->inputs_u8[k];
    return true;
  }
  bool writes_u8(const Step& s, const std::vector<TensorInfo>&) const override {
    const auto* p = s.try_params<P>();
    return p != nullptr && !p->inputs_u8.empty();
  }
};

class AddStep final : public U8EltwiseStep<U8InputsParams> {
 public:
  const char* name() const override { return "add"; }
  void check_params(const StepCheck& c, const U8InputsParams& p) const override {
    const Step& s = c.step();
    c.inputs(2);
    c.u8_inputs_or_f32(p.inputs_u8);
    c.same_size(s.in[0], s.out, "input 0 and output differ");
    c.same_size(s.in[1], s.out, "input 1 and output differ");
  }
  void run_params(const StepRun& r, const U8InputsParams& p) const override {
    const Step& s = r.step;
    if (p.inputs_u8.empty()) {
      add_clamp_f32(r.out_values(), r.in(0), r.in(1), r.out(), s.lo, s.hi);
      return;
    }
    const TensorInfo &a = r.in_info(0), &b = r.in_info(1), &out = r.out_info();
    add_qu8(r.out_values(), r.in<uint8_t>(0), a.scale, a.zero_point, r.in<uint8_t>(1), b.scale, b.zero_point,
            eltwise_output_stage(s, out), r.out<void>());
    finish_int8_clamp(s, out, r.out<void>(), r.batch, out.sample_elems, out.sample_elems);
  }
};

class GlobalAvgPoolStep final : public U8EltwiseStep<GlobalAvgPoolParams> {
 public:
  const char* name() const override { return "global_avgpool"; }
  void check_params(const StepCheck& c, const GlobalAvgPoolParams& p) const override {
    const Step& s = c.step();
    c.no_clamp();
    c.inputs(1);
    c.u8_inputs_or_f32(p.inputs_u8);
    c.size_is(s.in[0], StepCheck::product({p.c, p.hw}), "the input");
    c.size_is(s.out, StepCheck::product({p.c}), "the output");
  }
  void run_params(const StepRun& r, const GlobalAvgPoolParams& p) const override {
    if (p.inputs_u8.empty()) {
      global_avgpool_nhwc(r.batch, p.hw, p.c, r.in(), r.out());
      return;
    }
    const TensorInfo& in = r.in_info();
    global_avgpool_nhwc(r.batch, p.hw, p.c, r.in<uint8_t>(), in.scale, in.zero_point,
                        eltwise_output_stage(r.step, r.out_info()), r.out<void>());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(add_step, AddStep)
FNN_DEFINE_STEP_KIND(global_avgpool_step, GlobalAvgPoolStep)

}  // namespace fnn
