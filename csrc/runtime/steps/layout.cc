// to_nhwc / to_nchw: one sample of c x hw values transposed. float32, or the bytes of a u8 /
// s8 tensor (a quantized program input), which keep their dtype and parameters.
#include "runtime/steps/layout.h"

#include <cstdint>

#include "kernels/conv/conv_nhwc.h"
#include "runtime/step_kind.h"

namespace fnn {
namespace {

// [n][rows][cols] -> [n][cols][rows], bytes.
void transpose_bytes(size_t n, size_t rows, size_t cols, const uint8_t* x, uint8_t* y) {
  for (size_t b = 0; b < n; ++b, x += rows * cols, y += rows * cols) {
    for (size_t r = 0; r < rows; ++r) {
      for (size_t col = 0; col < cols; ++col) y[col * rows + r] = x[r * cols + col];
    }
  }
}

template <bool kToNhwc>
class LayoutStep final : public StepKindWith<LayoutParams> {
 public:
  const char* name() const override { return kToNhwc ? "to_nhwc" : "to_nchw"; }
  void check_params(const StepCheck& c, const LayoutParams& p) const override {
    c.unary_sized(StepCheck::product({p.c, p.hw}));
    const TensorInfo& in = c.tensor(c.step().in[0]);
    const TensorInfo& out = c.tensor(c.step().out);
    if (!in.quantized()) {
      c.all_f32();
      return;
    }
    c.expect(out.dtype == in.dtype && out.scale == in.scale && out.zero_point == in.zero_point,
             "moves u8 / s8 values into a tensor of the same dtype and parameters only");
  }
  bool keeps_dtype(const Step&) const override { return true; }
  void run_params(const StepRun& r, const LayoutParams& p) const override {
    if (r.in_info().quantized()) {
      transpose_bytes(r.batch, kToNhwc ? p.c : p.hw, kToNhwc ? p.hw : p.c, r.in<uint8_t>(), r.out<uint8_t>());
      return;
    }
    (kToNhwc ? nchw_to_nhwc : nhwc_to_nchw)(r.batch, p.c, p.hw, r.in(), r.out());
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(to_nhwc_step, LayoutStep<true>)
FNN_DEFINE_STEP_KIND(to_nchw_step, LayoutStep<false>)

}  // namespace fnn
