// f32 A x bf16 W GEMM micro-kernel, portable C++: up to 4 rows x 16 columns.
//
// bf16 -> f32 is the bf16 bits shifted up 16 (exact); W pair rows hold (k, k+1) per column.
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/f32_gemm_tile_scalar.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct Bf16PairRow {
  using Elem = uint16_t;
  static const float* row(const uint16_t* w, size_t kk, float (&buf)[kGemmNR]) {
    // Row kk is the (kk % 2) half of pair row kk / 2; an odd k never reaches the padding.
    const uint16_t* pair = w + (kk / 2) * 2 * kGemmNR + kk % 2;
    for (size_t n = 0; n < kGemmNR; ++n) buf[n] = bf16_to_f32(pair[2 * n]);
    return buf;
  }
};

}  // namespace

void f32_bf16w_gemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t k, const float* a,
                                         size_t a_stride, const uint16_t* w, float* c,
                                         size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) {
    scalar_gemm_tile<Bf16PairRow, decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, params);
  });
}

}  // namespace fnn
