// f32 A x f16 W GEMM micro-kernel, portable C++: up to 4 rows x 16 columns.
//
// Halves are widened in software (kernels/common/half.h), exactly, one panel row at a time,
// then used by every row of the tile.
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_scalar.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct F16Row {
  using Elem = uint16_t;
  static const float* row(const uint16_t* w, size_t kk, float (&buf)[kGemmNR]) {
    for (size_t n = 0; n < kGemmNR; ++n) buf[n] = f16_to_f32(w[kk * kGemmNR + n]);
    return buf;
  }
};

}  // namespace

void f32_f16w_gemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t k, const float* a,
                                        size_t a_stride, const uint16_t* w, float* c,
                                        size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) {
    scalar_gemm_tile<F16Row, decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
