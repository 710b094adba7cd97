// conv_transpose2d (conv_transpose.h): the input, a band of rows at a time, times the
// packed weights gives each input pixel's kh x kw patch of output contributions (a GEMM on
// the library's f32 kernels); every output row the band reaches then adds the patches that
// cover it (a col2im written as a gather, so it splits over output rows without races).
// The band's GEMM result is the step's only scratch.
#include "runtime/steps/conv_transpose.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

using idx = int64_t;

// Floats of GEMM output per band (1 MiB): a few input rows of a typical decoder layer, big
// enough for long GEMMs, small enough to stay in L2 for the gather that reads it back.
constexpr size_t kBandFloats = size_t{1} << 18;

size_t patch_cols(const Conv2dGeometry& g) { return g.kh * g.kw * g.oc; }

size_t band_rows(const Conv2dGeometry& g) {
  return std::max<size_t>(1, std::min(g.h, kBandFloats / (g.w * patch_cols(g))));
}

// Adds into output rows [y0, y1) of one image (out) the patches of input rows
// [i0, i0 + rows) (col: one row of patch_cols values per input pixel).
void gather_rows(const Conv2dGeometry& g, const float* col, size_t i0, size_t rows, size_t y0, size_t y1,
                 float* out) {
  const size_t ocg = g.oc / g.groups, group_cols = g.kh * g.kw * ocg, ncol = patch_cols(g);
  for (size_t oy = y0; oy < y1; ++oy) {
    float* orow = out + oy * g.ow * g.oc;
    for (size_t ky = 0; ky < g.kh; ++ky) {
      const idx t = static_cast<idx>(oy + g.pad_top) - static_cast<idx>(ky * g.dh);
      if (t < 0) break;  // t only falls as ky grows
      if (t % static_cast<idx>(g.sh) != 0) continue;
      const size_t iy = static_cast<size_t>(t) / g.sh;
      if (iy < i0 || iy >= i0 + rows) continue;
      const float* crow = col + (iy - i0) * g.w * ncol;
      for (size_t ox = 0; ox < g.ow; ++ox) {
        float* o = orow + ox * g.oc;
        for (size_t kx = 0; kx < g.kw; ++kx) {
          const idx u = static_cast<idx>(ox + g.pad_left) - static_cast<idx>(kx * g.dw);
          if (u < 0) break;
          if (u % static_cast<idx>(g.sw) != 0) continue;
          const size_t ix = static_cast<size_t>(u) / g.sw;
          if (ix >= g.w) continue;
          const float* patch = crow + ix * ncol + (ky * g.kw + kx) * ocg;
          for (size_t grp = 0; grp < g.groups; ++grp) {
            const float* __restrict s = patch + grp * group_cols;
            float* __restrict d = o + grp * ocg;
            for (size_t e = 0; e < ocg; ++e) d[e] += s[e];
          }
        }
      }
    }
  }
}

class ConvTranspose2dStep final : public StepKindWith<ConvTranspose2dParams> {
 public:
  const char* name() const override { return "conv_transpose2d"; }
  size_t weight_bytes(const Step& s) const override {
    const auto& p = s.params_as<ConvTranspose2dParams>();
    size_t total = p.bias.size() * sizeof(float);
    for (const auto& w : p.weights) total += w->nbytes();
    return total;
  }
  size_t scratch_bytes(const Program&, const Step& s, size_t, Tiles) const override {
    const Conv2dGeometry& g = s.params_as<ConvTranspose2dParams>().geometry;
    // One band at a time: its GEMM and its gather each split over every thread.
    return (band_rows(g) * g.w * patch_cols(g) * sizeof(float) + 63) / 64 * 64;
  }
  void check_params(const StepCheck& c, const ConvTranspose2dParams& p) const override {
    const Step& s = c.step();
    const Conv2dGeometry& g = p.geometry;
    c.inputs(1);
    c.no_clamp();
    c.dims({g.h, g.w, g.c, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups}, "transposed conv geometry");
    c.expect(g.pad_top <= StepCheck::kMaxDim && g.pad_left <= StepCheck::kMaxDim, "transposed conv padding past 2^24");
    c.expect(g.c % g.groups == 0 && g.oc % g.groups == 0, "channels are not a multiple of the groups");
    c.size_is(s.in[0], StepCheck::product({g.h, g.w, g.c}), "the input");
    c.size_is(s.out, StepCheck::product({g.oh, g.ow, g.oc}), "the output");
    // A band's GEMM output: at least one input row of patches, planned as scratch.
    const size_t ncol = StepCheck::product({g.kh, g.kw, g.oc});
    c.expect(ncol != 0 && StepCheck::product({g.w, ncol}) != 0, "an input row's patches pass 2^40 values");
    c.expect(!p.weights.empty() && p.weights[0] != nullptr, "has no packed weights");
    c.packed_gemm(p.weights, g.groups, g.c / g.groups, ncol / g.groups, QuantIn{});
    c.expect(p.weights[0]->kind() == WeightKind::kF32, "runs f32 weights only");
    c.expect(p.bias.empty() || p.bias.size() == g.oc, "bias length is not the output channels");
  }
  void run_params(const StepRun& r, const ConvTranspose2dParams& p) const override {
    const Conv2dGeometry& g = p.geometry;
    const size_t cg = g.c / g.groups, group_cols = g.kh * g.kw * (g.oc / g.groups), ncol = patch_cols(g);
    const size_t band = band_rows(g), out_row = g.ow * g.oc, out_img = g.oh * out_row;
    const float* x = r.in();
    float* y = r.out();
    auto* col = reinterpret_cast<float*>(r.scratch);
    const size_t min_rows = (16384 + out_row - 1) / out_row;
    for (size_t b = 0; b < r.batch; ++b) {
      float* out = y + b * out_img;
      parallel_ranges(g.oh, min_rows, r.threads, [&](size_t y0, size_t y1) {
        for (size_t oy = y0; oy < y1; ++oy) {
          float* row = out + oy * out_row;
          if (p.bias.empty()) {
            std::fill(row, row + out_row, 0.f);
          } else {
            for (size_t ox = 0; ox < g.ow; ++ox) std::copy(p.bias.begin(), p.bias.end(), row + ox * g.oc);
          }
        }
      });
      for (size_t i0 = 0; i0 < g.h; i0 += band) {
        const size_t rows = std::min(band, g.h - i0);
        const float* a = x + ((b * g.h + i0) * g.w) * g.c;
        for (size_t grp = 0; grp < g.groups; ++grp) {
          gemm_float(a + grp * cg, rows * g.w, g.c, *p.weights[grp], col + grp * group_cols, ncol, Activation{},
                     false);
        }
        // Output rows these input rows reach: iy sh - pad_top + ky dh for ky in [0, kh).
        const idx lo = static_cast<idx>(i0 * g.sh) - static_cast<idx>(g.pad_top);
        const idx hi = static_cast<idx>((i0 + rows - 1) * g.sh + (g.kh - 1) * g.dh + 1) - static_cast<idx>(g.pad_top);
        const size_t y0 = static_cast<size_t>(std::max<idx>(lo, 0));
        const size_t y1 = static_cast<size_t>(std::min<idx>(std::max<idx>(hi, 0), static_cast<idx>(g.oh)));
        if (y0 >= y1) continue;
        parallel_ranges(y1 - y0, min_rows, r.threads, [&](size_t q0, size_t q1) {
          gather_rows(g, col, i0, rows, y0 + q0, y0 + q1, out);
        });
      }
    }
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(conv_transpose2d_step, ConvTranspose2dStep)

}  // namespace fnn
