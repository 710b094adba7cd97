// Element-wise steps that read float32 or u8 inputs (each with its own parameters, as ONNX's
// QLinearAdd / QLinearGlobalAveragePool): add (y = clamp(a + b)) and global_avgpool (the mean
// over the pixels of each channel; u8: exact integer sums, requantized).
#include "kernels/conv/conv_nhwc.h"
#include "kernels/eltwise/eltwise.h"
#include "runtime/parallel.h"
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
    const QVaddParams q = add_qu8_params(a.scale, a.zero_point, b.scale, b.zero_point, eltwise_output_stage(s, out));
    const uint8_t* pa = r.in<uint8_t>(0);
    const uint8_t* pb = r.in<uint8_t>(1);
    auto* py = static_cast<uint8_t*>(r.out<void>());
    const size_t elem = q.out_u8 ? 1 : sizeof(float);
    // Element-wise, so any split gives the same bytes. A chunk is worth a thread from about
    // 16K values (a few microseconds of kernel; a batch-1 residual add stays on the caller).
    parallel_ranges(r.out_values(), kAddChunk, r.threads, [&](size_t b0, size_t b1) {
      add_qu8(b1 - b0, pa + b0, pb + b0, q, py + b0 * elem);
      finish_int8_clamp(s, out, py + b0 * elem, 1, b1 - b0, b1 - b0);
    });
  }

 private:
  static constexpr size_t kAddChunk = 16384;
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
