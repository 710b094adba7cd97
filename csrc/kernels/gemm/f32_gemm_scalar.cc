// f32 GEMM micro-kernel, portable C++: up to 4 rows x 16 columns.
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_scalar.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct F32Row {
  using Elem = float;
  static const float* row(const float* w, size_t kk, float (&)[kGemmNR]) { return w + kk * kGemmNR; }
};

}  // namespace

void f32_gemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t k, const float* a,
                                   size_t a_stride, const float* w, float* c, size_t c_stride,
                                   const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) {
    scalar_gemm_tile<F32Row, decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
