// resize: nearest / bilinear resampling of NHWC maps from precomputed source tables
// (resize.h). Work is split over output rows; each output pixel is a copy or a blend of
// whole source pixels, so the inner loops run over the c contiguous channels.
#include "runtime/steps/resize.h"

#include <cmath>
#include <cstring>
#include <string>

#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

// Output rows [r0, r1) of the flattened batch x oh.
void nearest_rows(const ResizeParams& p, const float* x, float* y, size_t r0, size_t r1) {
  const size_t c = p.c, in_row = p.w * c, in_img = p.h * in_row, out_row = p.ow * c;
  for (size_t r = r0; r < r1; ++r) {
    const size_t b = r / p.oh, oy = r % p.oh;
    const float* src = x + b * in_img + p.rows[oy] * in_row;
    float* dst = y + r * out_row;
    for (size_t ox = 0; ox < p.ow; ++ox) std::memcpy(dst + ox * c, src + p.cols[ox] * c, c * sizeof(float));
  }
}

void linear_rows(const ResizeParams& p, const float* x, float* y, size_t r0, size_t r1) {
  const size_t c = p.c, in_row = p.w * c, in_img = p.h * in_row, out_row = p.ow * c;
  for (size_t r = r0; r < r1; ++r) {
    const size_t b = r / p.oh, oy = r % p.oh;
    const float* top = x + b * in_img + p.rows[2 * oy] * in_row;
    const float* bottom = x + b * in_img + p.rows[2 * oy + 1] * in_row;
    const float wy0 = p.row_weights[2 * oy], wy1 = p.row_weights[2 * oy + 1];
    float* dst = y + r * out_row;
    for (size_t ox = 0; ox < p.ow; ++ox) {
      const size_t x0 = p.cols[2 * ox] * c, x1 = p.cols[2 * ox + 1] * c;
      const float wx0 = p.col_weights[2 * ox], wx1 = p.col_weights[2 * ox + 1];
      // The four products of the weights, as onnxruntime forms them (dx2 dy2 X11 + ...).
      const float w00 = wx0 * wy0, w01 = wx1 * wy0, w10 = wx0 * wy1, w11 = wx1 * wy1;
      const float* __restrict a = top + x0;
      const float* __restrict bb = top + x1;
      const float* __restrict cc = bottom + x0;
      const float* __restrict d = bottom + x1;
      float* __restrict o = dst + ox * c;
      for (size_t ch = 0; ch < c; ++ch) o[ch] = w00 * a[ch] + w01 * bb[ch] + w10 * cc[ch] + w11 * d[ch];
    }
  }
}

void check_table(const StepCheck& c, const std::vector<size_t>& idx, size_t want, size_t limit, const char* what) {
  c.expect(idx.size() == want, std::string(what) + ": " + std::to_string(idx.size()) + " entries, the geometry needs " +
                                   std::to_string(want));
  for (size_t v : idx) c.expect(v < limit, std::string(what) + ": a source index past the input");
}

void check_weights(const StepCheck& c, const std::vector<float>& w, size_t want, const char* what) {
  c.expect(w.size() == want, std::string(what) + ": " + std::to_string(w.size()) + " entries, the geometry needs " +
                                 std::to_string(want));
  for (float v : w) c.expect(std::isfinite(v) && v >= 0.f && v <= 1.f, std::string(what) + ": a weight outside [0, 1]");
}

class ResizeStep final : public StepKindWith<ResizeParams> {
 public:
  const char* name() const override { return "resize"; }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<ResizeParams>();
    return (p.rows.size() + p.cols.size()) * sizeof(size_t) + (p.row_weights.size() + p.col_weights.size()) * sizeof(float);
  }
  void check_params(const StepCheck& c, const ResizeParams& p) const override {
    const Step& s = c.step();
    c.inputs(1);
    c.no_clamp();
    c.all_f32();
    c.dims({p.h, p.w, p.c, p.oh, p.ow}, "resize geometry");
    c.size_is(s.in[0], StepCheck::product({p.h, p.w, p.c}), "the input");
    c.size_is(s.out, StepCheck::product({p.oh, p.ow, p.c}), "the output");
    const size_t taps = p.linear ? 2 : 1;
    check_table(c, p.rows, taps * p.oh, p.h, "source rows");
    check_table(c, p.cols, taps * p.ow, p.w, "source columns");
    if (p.linear) {
      check_weights(c, p.row_weights, 2 * p.oh, "row weights");
      check_weights(c, p.col_weights, 2 * p.ow, "column weights");
    } else {
      c.expect(p.row_weights.empty() && p.col_weights.empty(), "nearest takes no weights");
    }
  }
  void run_params(const StepRun& r, const ResizeParams& p) const override {
    const float* x = r.in();
    float* y = r.out();
    const size_t out_row = p.ow * p.c;
    parallel_ranges(r.batch * p.oh, (16384 + out_row - 1) / out_row, r.threads, [&](size_t r0, size_t r1) {
      if (p.linear) {
        linear_rows(p, x, y, r0, r1);
      } else {
        nearest_rows(p, x, y, r0, r1);
      }
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(resize_step, ResizeStep)

}  // namespace fnn
