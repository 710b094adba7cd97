// dequantize: a u8 / s8 tensor -> f32 with the input tensor's own parameters,
// y = scale * (q - zero_point) (ONNX DequantizeLinear; one float multiply of an exact
// integer, so it equals numpy's float32 (q - zp) * scale bit for bit). Or, into a u8 tensor,
// s8 -> u8: q + 128 with zero point + 128, the same real values exactly (an int8 input read
// by an int8 layer whose u8 parameters are those).
// assign_activation_dtypes puts one after a quantized program input (or its layout change)
// for the readers that take float32, u8 with other parameters, or an s8 input as u8: one per
// tensor and output dtype, before its first such reader.
#include <cstdint>

#include "runtime/program.h"

namespace fnn {
namespace {

template <typename Q>
void dequantize(size_t n, const Q* x, float scale, int32_t zero_point, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zero_point) * scale;
}

class DequantizeStep final : public StepKindImpl {
 public:
  const char* name() const override { return "dequantize"; }
  const char* precision(const Step&) const override { return "int8"; }
  bool reads_quantized(const Step&) const override { return true; }
  void check(const StepCheck& c) const override {
    c.no_params();
    c.unary();
    const TensorInfo& in = c.tensor(c.step().in[0]);
    const TensorInfo& out = c.tensor(c.step().out);
    const bool shift = in.dtype == DType::kS8 && out.dtype == DType::kU8 && out.scale == in.scale &&
                       out.zero_point == in.zero_point + 128;
    c.expect(in.quantized() && (out.dtype == DType::kF32 || shift),
             "dequantizes u8 / s8 to float32, or shifts s8 to u8 (zero point + 128), only");
  }
  void run(const StepRun& r) const override {
    const TensorInfo& in = r.in_info();
    if (r.out_info().dtype == DType::kU8) {
      const auto* x = r.in<uint8_t>();
      auto* y = r.out<uint8_t>();
      // q_s8 + 128 as u8 is flipping the sign bit.
      for (size_t i = 0, n = r.out_values(); i < n; ++i) y[i] = static_cast<uint8_t>(x[i] ^ 0x80u);
    } else if (in.dtype == DType::kU8) {
      dequantize(r.out_values(), r.in<uint8_t>(), in.scale, in.zero_point, r.out());
    } else {
      dequantize(r.out_values(), r.in<int8_t>(), in.scale, in.zero_point, r.out());
    }
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(dequantize_step, DequantizeStep)

}  // namespace fnn
