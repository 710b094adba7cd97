// bf16 A x bf16 W GEMM micro-kernel, portable C++: up to 4 rows x 16 columns. Emulates
// vdpbf16ps, the instruction of bf16_gemm_ukernel_12x16c2__avx512bf16.
//
// Intel SDM, VDPBF16PS, per f32 lane and bf16 pair (index 0 = even k, 1 = odd k):
//   acc += fp32(a[1]) * fp32(w[1])   // FP32 FMA: DAZ in, FTZ out, RNE, MXCSR ignored
//   acc += fp32(a[0]) * fp32(w[0])
// Emulated here: the same order and rounding (a bf16 x bf16 product is exact in f32, so a
// multiply then an add rounds once, like the FMA) and DAZ on the inputs (denormal bf16 read
// as zero). Not emulated: FTZ of each result, and a product below 2^-126 is rounded here but
// kept exact inside the FMA; so results can differ only where a product or an accumulator
// falls in the f32 denormal range. Checked on Zen 5: bit-identical to the 12-row vdpbf16ps
// path on normal data and with denormal bf16 weights.
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/f32_gemm_tile_scalar.h"
#include "kernels/gemm/gemm_ukernel_define.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

// bf16 -> f32 with denormals read as (signed) zero, as vdpbf16ps does.
float bf16_to_float_daz(uint16_t b) {
  const uint32_t sign_only = static_cast<uint32_t>(b & 0x8000u) << 16;
  const uint32_t bits = (b & 0x7F80u) == 0 ? sign_only : static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

struct Bf16EmulationTile {
  template <size_t MR>
  static void run(size_t nc, size_t k, const uint16_t* a, size_t a_stride, const uint16_t* w,
                  float* c, size_t c_stride, const GemmF32Params* params) {
    float acc[MR][kGemmNR];
    scalar_acc_init<MR>(acc, nc, c, c_stride, params);
    const size_t kp = (k + 1) / 2;  // A rows are zero-padded to whole pairs
    for (size_t j = 0; j < kp; ++j) {
      const uint16_t* pair_row = w + j * 2 * kGemmNR;
      float w0[kGemmNR], w1[kGemmNR];
      for (size_t n = 0; n < kGemmNR; ++n) {
        w0[n] = bf16_to_float_daz(pair_row[2 * n]);
        w1[n] = bf16_to_float_daz(pair_row[2 * n + 1]);
      }
      for (size_t m = 0; m < MR; ++m) {
        const float a0 = bf16_to_float_daz(a[m * a_stride + 2 * j]);
        const float a1 = bf16_to_float_daz(a[m * a_stride + 2 * j + 1]);
        // Not unrolled, so GCC vectorizes across columns. GCC 12.2 -O3 unrolls it fully, then
        // vectorizes the pair loop as an in-order reduction and gets the two-add chain wrong
        // (double-counts a product for 1- and 2-row tiles): wrong code, not just slow code.
#pragma GCC unroll 1
        for (size_t n = 0; n < kGemmNR; ++n) {
          float v = acc[m][n];
          v += a1 * w1[n];
          v += a0 * w0[n];
          acc[m][n] = v;
        }
      }
    }
    scalar_store<MR>(acc, nc, c, c_stride, params);
  }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(bf16_gemm_ukernel_4x16c2__scalar, uint16_t, uint16_t, float, GemmF32Params,
                        Bf16EmulationTile)

}  // namespace fnn
