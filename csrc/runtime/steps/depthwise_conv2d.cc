#include "runtime/steps/depthwise_conv2d.h"

#include <cmath>

#include "runtime/parallel.h"
#include "runtime/program.h"
#include "runtime/steps/int8_output.h"

namespace fnn {
namespace {

class DepthwiseConv2dStep final : public Int8LayerStep<DepthwiseConv2dParams> {
 public:
  const char* name() const override { return "depthwise_conv2d"; }
  const char* precision(const Step& s) const override {
    return s.params_as<DepthwiseConv2dParams>().weights_s8.empty() ? "f32" : "int8";
  }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<DepthwiseConv2dParams>();
    return (p.weights.size() + p.weight_scale.size() + p.bias.size()) * sizeof(float) + p.weights_s8.size();
  }
  void check_params(const StepCheck& c, const DepthwiseConv2dParams& p) const override {
    const Step& s = c.step();
    const Conv2dGeometry& g = p.geometry;
    c.inputs(1);
    c.conv_geometry(g);
    c.expect(g.groups == g.c && g.oc == g.c, "a depthwise conv has groups == channels == outputs");
    c.size_is(s.out, StepCheck::product({g.oh, g.ow, g.oc}), "the output");
    const size_t taps = StepCheck::product({g.kh, g.kw, g.c});
    if (p.weights_s8.empty()) {
      c.all_f32();
      c.expect(p.weight_scale.empty(), "has weight scales but no int8 weights");
      c.expect(taps != 0 && p.weights.size() == taps, "weights are not kh x kw x channels");
    } else {
      c.expect(p.weights.empty(), "has float weights besides its int8 ones");
      c.expect(taps != 0 && p.weights_s8.size() == taps, "int8 weights are not kh x kw x channels");
      c.expect(p.weight_scale.size() == g.c, "needs one weight scale per channel");
      for (float v : p.weight_scale) c.expect(std::isfinite(v) && v > 0.f, "a weight scale is not positive and finite");
      c.valid_quant(p.input, "int8 input");
      c.expect(c.dtype(s.in[0]) == DType::kU8, "int8 weights read a u8 input (a quantize step first)");
    }
    c.expect(p.bias.empty() || p.bias.size() == g.c, "bias length is not the channels");
  }
  void prepare_int8(const Step& s, DepthwiseConv2dParams& p, const TensorInfo& out) const override {
    p.qargs = int8_output_args(s, p.input, out);
    const size_t c = p.geometry.c;
    p.columns.scale.resize(c);
    p.columns.bias_i32.resize(c);
    for (size_t j = 0; j < c; ++j) {
      qgemm_column(p.qargs, p.weight_scale[j], p.bias.empty() ? nullptr : &p.bias[j], &p.columns.scale[j],
                   &p.columns.bias_i32[j]);
    }
    p.weight_sum.assign(c, 0);
    for (size_t i = 0; i < p.weights_s8.size(); ++i) {  // wrapping, as the kernels' sums
      const auto sum = static_cast<uint32_t>(p.weight_sum[i % c]) + static_cast<uint32_t>(int32_t{p.weights_s8[i]});
      p.weight_sum[i % c] = static_cast<int32_t>(sum);
    }
  }
  void run_params(const StepRun& r, const DepthwiseConv2dParams& p) const override {
    const Step& s = r.step;
    Conv2dGeometry g = p.geometry;
    g.n = r.batch;
    const float* bias = p.bias.empty() ? nullptr : p.bias.data();
    if (p.weights_s8.empty()) {
      parallel_ranges(r.batch * g.oh * g.ow, 256, r.threads, [&](size_t b, size_t e) {
        depthwise_conv2d_nhwc(g, r.in(), p.weights.data(), bias, s.lo, s.hi, r.out(), b, e - b);
      });
      return;
    }
    QDwParams q;
    q.a_zero_point = p.qargs.a_zero_point;
    q.w_sum = p.weight_sum.data();
    q.scale = p.columns.scale.data();
    q.out_u8 = p.qargs.output == QOutput::kU8;
    if (q.out_u8) {
      q.bias_i32 = p.columns.bias_i32.data();
      q.out_zero_point = p.qargs.out_zero_point;
      q.qmin = p.qargs.relu ? p.qargs.out_zero_point : 0;
    } else {
      q.bias_f32 = bias;
      if (p.qargs.relu) q.lo = 0.f;
    }
    const TensorInfo& out = r.out_info();
    parallel_ranges(r.batch * g.oh * g.ow, 256, r.threads, [&](size_t b, size_t e) {
      depthwise_conv2d_nhwc(g, r.in<uint8_t>(), p.weights_s8.data(), q, r.out<void>(), b, e - b);
      finish_int8_clamp(s, out, r.out<char>() + b * g.c * out.elem_bytes(), e - b, g.c, g.c);
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(depthwise_conv2d_step, DepthwiseConv2dStep)

}  // namespace fnn
