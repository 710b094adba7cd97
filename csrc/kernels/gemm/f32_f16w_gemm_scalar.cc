// f32 A x f16 W GEMM micro-kernel, portable C++: up to 4 rows x 16 columns.
//
// Halves are widened in software (kernels/common/half.h), exactly, one panel row at a time,
// then used by every row of the tile.
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/half.h"
#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

template <size_t MR>
void gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint16_t* w,
               float* c, size_t c_stride, const GemmF32Params* params) {
  float acc[MR][kGemmNR];
  for (size_t m = 0; m < MR; ++m) {
    for (size_t n = 0; n < kGemmNR; ++n) {
      if (params->flags & kGemmAccumulate) {
        acc[m][n] = n < nc ? c[m * c_stride + n] : 0.f;
      } else {
        acc[m][n] = params->bias != nullptr ? params->bias[n] : 0.f;
      }
    }
  }
  for (size_t kk = 0; kk < k; ++kk) {
    float wr[kGemmNR];
    for (size_t n = 0; n < kGemmNR; ++n) wr[n] = f16_to_f32(w[kk * kGemmNR + n]);
    for (size_t m = 0; m < MR; ++m) {
      const float av = a[m * a_stride + kk];
      // Not unrolled, so GCC vectorizes across columns (fully unrolled, GCC 12 -O3 vectorizes
      // the k loop as slow in-order reductions; see bf16_gemm_scalar.cc for the wrong code).
#pragma GCC unroll 1
      for (size_t n = 0; n < kGemmNR; ++n) acc[m][n] += av * wr[n];
    }
  }
  const bool clamp = (params->flags & kGemmClamp) != 0;
  for (size_t m = 0; m < MR; ++m) {
    for (size_t n = 0; n < nc; ++n) {
      float v = acc[m][n];
      if (clamp) {
        // Comparisons are false for NaN: a NaN result stays NaN (as the SIMD kernels do).
        v = v < params->min ? params->min : v;
        v = v > params->max ? params->max : v;
      }
      c[m * c_stride + n] = v;
    }
  }
}

}  // namespace

void f32_f16w_gemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t k, const float* a,
                                        size_t a_stride, const uint16_t* w, float* c,
                                        size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4);
  assert(nc >= 1 && nc <= kGemmNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) { gemm_tile<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride, params); });
}

}  // namespace fnn
