// The portable float GEMM tile, for scalar translation units only: up to MR rows x 16
// columns of f32 accumulators, with the W row type as a trait (as the AVX2 / AVX-512 tiles
// take theirs). L::Elem is W's element type and L::row(w, kk, buf) gives W's row kk (16
// columns) as f32: widened into buf, or (f32 weights) a pointer into W itself, no copy. The f32, f16-weight and bf16-weight kernels are this template with their
// load; the bf16 x bf16 kernel shares its accumulator init and its clamp-and-store.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

template <size_t MR>
void scalar_acc_init(float (&acc)[MR][kGemmNR], size_t nc, const float* c, size_t c_stride,
                     const GemmF32Params* params) {
  for (size_t m = 0; m < MR; ++m) {
    for (size_t n = 0; n < kGemmNR; ++n) {
      if (params->flags & kGemmAccumulate) {
        acc[m][n] = n < nc ? c[m * c_stride + n] : 0.f;
      } else {
        acc[m][n] = params->bias != nullptr ? params->bias[n] : 0.f;
      }
    }
  }
}

template <size_t MR>
void scalar_store(const float (&acc)[MR][kGemmNR], size_t nc, float* c, size_t c_stride,
                  const GemmF32Params* params) {
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

template <typename L, size_t MR>
void scalar_gemm_tile(size_t nc, size_t k, const float* a, size_t a_stride, const typename L::Elem* w,
                      float* c, size_t c_stride, const GemmF32Params* params) {
  float acc[MR][kGemmNR];
  scalar_acc_init<MR>(acc, nc, c, c_stride, params);
  for (size_t kk = 0; kk < k; ++kk) {
    float buf[kGemmNR];
    const float* wr = L::row(w, kk, buf);
    for (size_t m = 0; m < MR; ++m) {
      const float av = a[m * a_stride + kk];
      // Not unrolled, so GCC vectorizes across columns (fully unrolled, GCC 12 -O3 vectorizes
      // the k loop as slow in-order reductions; see bf16_gemm_scalar.cc for the wrong code).
#pragma GCC unroll 1
      for (size_t n = 0; n < kGemmNR; ++n) acc[m][n] += av * wr[n];
    }
  }
  scalar_store<MR>(acc, nc, c, c_stride, params);
}

}  // namespace
}  // namespace fnn
