#include "runtime/steps/depthwise_conv2d.h"

#include <algorithm>
#include <cmath>

#include "memory/scratch.h"

#include "runtime/parallel.h"
#include "runtime/program.h"
#include "runtime/steps/int8_output.h"
#include "runtime/steps/unary.h"

namespace fnn {
namespace {

constexpr size_t kPostPixels = 64;  // output pixels per block a fused activation follows
// Multiply-adds a thread's share must hold before a layer is split over threads: a 3x3 layer
// of 16 x 48 x 48 outputs (332k) runs in ~6 us on one AVX-512 core and was no faster on two
// (waking the pool's thread costs about what the half saves); four times that is.
constexpr size_t kMinChunkMacs = size_t{1} << 19;

// Output pixels per thread's share: whole kMinChunkMacs, and at least 256.
size_t min_chunk_pixels(const Conv2dGeometry& g) {
  return std::max<size_t>(256, kMinChunkMacs / std::max<size_t>(1, g.c * g.kh * g.kw));
}

class DepthwiseConv2dStep final : public Int8LayerStep<DepthwiseConv2dParams> {
 public:
  const char* name() const override { return "depthwise_conv2d"; }
  std::string label(const Step& s) const override {
    return "depthwise_conv2d" + fused_label(s.params_as<DepthwiseConv2dParams>().post);
  }
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
    c.fused_unary(p.post);
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
  }
  void run_params(const StepRun& r, const DepthwiseConv2dParams& p) const override {
    const Step& s = r.step;
    Conv2dGeometry g = p.geometry;
    g.n = r.batch;
    const float* bias = p.bias.empty() ? nullptr : p.bias.data();
    const UnaryEpilogue post = unary_epilogue(p.post);
    if (p.weights_s8.empty()) {
      parallel_ranges(r.batch * g.oh * g.ow, min_chunk_pixels(g), r.threads, [&](size_t b, size_t e) {
        // A fused activation follows each block of pixels while it is in cache.
        const size_t block = !p.post.empty() ? kPostPixels : e - b;
        for (size_t b0 = b; b0 < e; b0 += block) {
          const size_t n = std::min(block, e - b0);
          depthwise_conv2d_nhwc(g, r.in(), p.weights.data(), bias, s.lo, s.hi, r.out(), b0, n);
          if (!p.post.empty()) apply_unary_rows(post, r.out() + b0 * g.c, n, g.c, g.c);
        }
      });
      return;
    }
    QDwParams q;
    q.a_zero_point = p.qargs.a_zero_point;
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
    // A ReLU6 (or any clamp) goes into the kernel's bounds: no pass over the output afterwards.
    const bool clamped = q.out_u8 ? fold_int8_clamp(s, out, &q.qmin, &q.qmax) : fold_int8_clamp(s, &q.lo, &q.hi);
    parallel_ranges(r.batch * g.oh * g.ow, min_chunk_pixels(g), r.threads, [&](size_t b, size_t e) {
      const size_t block = !p.post.empty() ? kPostPixels : e - b;
      for (size_t b0 = b; b0 < e; b0 += block) {
        const size_t n = std::min(block, e - b0);
        depthwise_conv2d_nhwc(g, r.in<uint8_t>(), p.weights_s8.data(), q, r.out<void>(), b0, n);
        if (!clamped) finish_int8_clamp(s, out, r.out<char>() + b0 * g.c * out.elem_bytes(), n, g.c, g.c);
        if (!p.post.empty()) apply_unary_rows(post, r.out() + b0 * g.c, n, g.c, g.c);
      }
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(depthwise_conv2d_step, DepthwiseConv2dStep)

}  // namespace fnn

// ---- Training -------------------------------------------------------------------------------

namespace fnn {
namespace {

constexpr size_t kMaxParts = 8;  // batch parts of a weight gradient (fixed: determinism)

size_t train_threads() { return in_parallel_task() ? 1 : get_num_threads(); }

// w (oc, kh, kw, 1) -> wt [kh][kw][oc], the loops' channels-last order.
void transpose_weights(const Conv2dGeometry& g, const float* w, float* wt) {
  const size_t taps = g.kh * g.kw;
  for (size_t o = 0; o < g.oc; ++o) {
    for (size_t t = 0; t < taps; ++t) wt[t * g.oc + o] = w[o * taps + t];
  }
}

}  // namespace

void depthwise_conv2d_train_forward(const Conv2dGeometry& g, const float* x, const float* w,
                                    const float* bias, float lo, float hi, float* y) {
  const size_t pixels = g.n * g.oh * g.ow;
  if (pixels == 0) return;
  ScratchBlock scratch(g.kh * g.kw * g.oc * sizeof(float));
  float* wt = scratch.as<float>();
  transpose_weights(g, w, wt);
  parallel_ranges(pixels, 256, train_threads(), [&](size_t b, size_t e) {
    if (g.oc == g.c) {
      depthwise_conv2d_nhwc(g, x, wt, bias, lo, hi, y, b, e - b);
    } else {
      depthwise_multiplier_conv2d_nhwc(g, x, wt, bias, lo, hi, y, b, e - b);
    }
  });
}

void depthwise_conv2d_backward(const Conv2dGeometry& g, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) {
  const size_t taps = g.kh * g.kw, img_px = g.oh * g.ow;
  if (db != nullptr) sum_rows_nhwc(g.n * img_px, g.oc, dy, db);
  const size_t parts = std::min(g.n, kMaxParts);
  const size_t part_elems = (taps * g.oc + 15) / 16 * 16;
  ScratchBlock scratch((part_elems * (1 + std::max<size_t>(parts, 1))) * sizeof(float));
  float* wt = scratch.as<float>();
  float* part_dwt = wt + part_elems;
  transpose_weights(g, w, wt);
  std::fill(part_dwt, part_dwt + parts * part_elems, 0.f);
  const size_t plane = g.h * g.w * g.c;
  for_each_batch_part(g.n, parts, train_threads(), [&](size_t, size_t part, size_t b0, size_t b1) {
    if (dx != nullptr) std::fill(dx + b0 * plane, dx + b1 * plane, 0.f);
    depthwise_conv2d_backward_nhwc(g, x, wt, dy, dx, part_dwt + part * part_elems, b0, b1);
  });
  // dw[o][t] = part 0 + part 1 + ... in part order.
  for (size_t o = 0; o < g.oc; ++o) {
    for (size_t t = 0; t < taps; ++t) {
      float s = 0.f;
      for (size_t part = 0; part < parts; ++part) s += part_dwt[part * part_elems + t * g.oc + o];
      dw[o * taps + t] = s;
    }
  }
}

}  // namespace fnn
