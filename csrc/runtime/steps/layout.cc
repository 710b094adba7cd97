// to_nhwc / to_nchw: one sample of c x hw values transposed. float32, or the bytes of a u8 /
// s8 tensor (a quantized program input), which keep their dtype and parameters.
#include "runtime/steps/layout.h"

#include <cstdint>
#include <cstring>

#include "kernels/conv/conv_nhwc.h"
#include "runtime/step_kind.h"

namespace fnn {
namespace {

// A few rows (an RGB frame's channels) interleaved pixel by pixel: the row count known at
// compile time lets the compiler vectorize the interleave.
template <size_t R>
void interleave_rows(size_t cols, const uint8_t* x, uint8_t* y) {
  for (size_t col = 0; col < cols; ++col) {
    for (size_t r = 0; r < R; ++r) y[col * R + r] = x[r * cols + col];
  }
}

// [n][rows][cols] -> [n][cols][rows], bytes; otherwise in 32 x 32 tiles.
void transpose_bytes(size_t n, size_t rows, size_t cols, const uint8_t* x, uint8_t* y) {
  constexpr size_t kTile = 32;
  if (rows == 1 || cols == 1) {  // a vector is its own transpose
    std::memcpy(y, x, n * rows * cols);
    return;
  }
  for (size_t b = 0; b < n; ++b, x += rows * cols, y += rows * cols) {
    switch (rows) {
      case 2: interleave_rows<2>(cols, x, y); continue;
      case 3: interleave_rows<3>(cols, x, y); continue;
      case 4: interleave_rows<4>(cols, x, y); continue;
      default: break;
    }
    for (size_t r0 = 0; r0 < rows; r0 += kTile) {
      const size_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
      for (size_t c0 = 0; c0 < cols; c0 += kTile) {
        const size_t c1 = c0 + kTile < cols ? c0 + kTile : cols;
        for (size_t col = c0; col < c1; ++col) {
          for (size_t r = r0; r < r1; ++r) y[col * rows + r] = x[r * cols + col];
        }
      }
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
