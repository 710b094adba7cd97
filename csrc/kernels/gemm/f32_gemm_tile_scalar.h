// The portable float GEMM tile, for scalar translation units only: up to MR rows x 16
// columns of f32 accumulators, with the W row type as a trait (as the SIMD tile,
// f32_gemm_tile.h, takes its). L::Elem is W's element type and L::row(w, kk, buf) gives W's
// row kk (16 columns) as f32: widened into buf, or (f32 weights) a pointer into W itself, no
// copy. The f32, f16-weight and bf16-weight kernels are this template with their row; the
// bf16 x bf16 kernel shares its accumulator init and its clamp-and-store.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
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

template <typename L>
struct ScalarF32GemmTile {
  template <size_t MR>
  static void run(size_t nc, size_t k, const float* a, size_t a_stride,
                  const typename L::Elem* w, float* c, size_t c_stride,
                  const GemmF32Params* params) {
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
};

// How a W row becomes 16 floats: a pointer into W itself (f32), or widened into buf.
struct F32ScalarRow {
  using Elem = float;
  static const float* row(const float* w, size_t kk, float (&)[kGemmNR]) { return w + kk * kGemmNR; }
};

// Halves widened in software (kernels/common/half.h), exactly, one panel row at a time.
struct F16ScalarRow {
  using Elem = uint16_t;
  static const float* row(const uint16_t* w, size_t kk, float (&buf)[kGemmNR]) {
    for (size_t n = 0; n < kGemmNR; ++n) buf[n] = f16_to_f32(w[kk * kGemmNR + n]);
    return buf;
  }
};

// bf16 -> f32 is the bf16 bits shifted up 16 (exact); W pair rows hold (k, k+1) per column.
struct Bf16PairScalarRow {
  using Elem = uint16_t;
  static const float* row(const uint16_t* w, size_t kk, float (&buf)[kGemmNR]) {
    // Row kk is the (kk % 2) half of pair row kk / 2; an odd k never reaches the padding.
    const uint16_t* pair = w + (kk / 2) * 2 * kGemmNR + kk % 2;
    for (size_t n = 0; n < kGemmNR; ++n) buf[n] = bf16_to_f32(pair[2 * n]);
    return buf;
  }
};

}  // namespace
}  // namespace fnn
