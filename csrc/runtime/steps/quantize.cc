// quantize: f32 -> u8 with the output tensor's parameters (assign_activation_dtypes puts one
// before an int8 layer that reads a float tensor).
#include "kernels/quant/quant_config.h"
#include "runtime/program.h"

namespace fnn {
namespace {

class QuantizeStep final : public StepKindImpl {
 public:
  const char* name() const override { return "quantize"; }
  const char* precision(const Step&) const override { return "int8"; }
  void check(const StepCheck& c) const override {
    c.no_params();
    c.unary();
    c.expect(c.dtype(c.step().in[0]) == DType::kF32 && c.dtype(c.step().out) == DType::kU8,
             "quantizes float32 to u8 only");
  }
  void run(const StepRun& r) const override {
    const TensorInfo& out = r.out_info();
    quant_config().qu8(r.in(), r.out_values(), out.scale, out.zero_point, r.out<uint8_t>());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(quantize_step, QuantizeStep)

}  // namespace fnn
