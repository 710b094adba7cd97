// GEMM micro-kernels: C[mr x nc] = A[mr x k] * W[k x nc] for packed 16-column panels of W.
//
// Every kernel computes a tile of up to MR rows and NR columns (its name says MR x NR): one
// panel (NR = 16), or for the float kernels that take two (NR = 32) two adjacent ones,
// params->w_panel_stride elements apart; nc (1..NR) says how many columns are real, and only
// those are stored.
// Rows: mr (1..MR) rows are read and written; a kernel must not touch rows >= mr.
// Names: <A type>_<W type>_gemm_ukernel_<MR>x<NR>[c<K group>]__<isa> (STYLE.md 1.5).
//
// Packed panel layouts (all 64-byte aligned, columns >= nc zero-filled, K padded with zeros
// to the K group):
//   f32   w[k][16]                     float     (k = 0..K-1)
//   f16   w[k][16]                     uint16_t  IEEE binary16
//   bf16  w[k/2][16][2]                uint16_t  bfloat16, pairs of consecutive k per column
//   s8    w[k/4][16][4]                int8_t    four consecutive k per column (VNNI order)
// A is row-major with a row stride in elements; kernels read exactly k elements per row
// (never past the end: K tails are loaded element by element or with masks).
// C is row-major with a row stride in elements.
//
// The kernels themselves are declared from the list, gemm_ukernels.inc.
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

constexpr size_t kGemmNR = 16;

// ---- float outputs: f32, f16-weight and bf16-weight kernels --------------------------------

enum GemmFlags : uint32_t {
  kGemmAccumulate = 1,  // start from the values in C (a later K block); else from bias or 0
  kGemmClamp = 2,       // clamp the result to [min, max] (last K block only)
};

struct GemmF32Params {
  const float* bias;  // 16 values per panel of the tile (zero-padded), or null; ignored on accumulate
  float min;          // -inf / +inf for none, 0 for ReLU, 0 / 6 for ReLU6
  float max;
  uint32_t flags;     // GemmFlags
  // W elements from one panel to the next: a kernel whose nr is 32 reads the two adjacent
  // panels of a tile wider than 16 columns there (unused when nc <= 16).
  size_t w_panel_stride = 0;
};

// f32 A x f32 W. a: mr rows of k floats; w: panel rows k0.. (pointer already offset).
using F32GemmUkernel = void(size_t mr, size_t nc, size_t k, const float* a,
                            size_t a_stride, const float* w, float* c, size_t c_stride,
                            const GemmF32Params* params);
using F32GemmUkernelFn = F32GemmUkernel*;
// f32 A x f16 W (converted in the kernel, f32 accumulation).
using F32F16wGemmUkernel = void(size_t mr, size_t nc, size_t k, const float* a,
                                size_t a_stride, const uint16_t* w, float* c,
                                size_t c_stride, const GemmF32Params* params);
using F32F16wGemmUkernelFn = F32F16wGemmUkernel*;
// f32 A x bf16 W (widened in the kernel, f32 accumulation). w points at pair row k0/2; k0 is
// even. When k is odd the last pair's second element is zero padding and A has no element
// there: it must not be read.
using F32Bf16wGemmUkernel = void(size_t mr, size_t nc, size_t k, const float* a,
                                 size_t a_stride, const uint16_t* w, float* c,
                                 size_t c_stride, const GemmF32Params* params);
using F32Bf16wGemmUkernelFn = F32Bf16wGemmUkernel*;
// bf16 A x bf16 W with bf16 products (vdpbf16ps). a: mr rows of round_up(k, 2) bf16 values
// (zero-padded by the caller), row stride a_stride elements.
using Bf16GemmUkernel = void(size_t mr, size_t nc, size_t k, const uint16_t* a,
                             size_t a_stride, const uint16_t* w, float* c, size_t c_stride,
                             const GemmF32Params* params);
using Bf16GemmUkernelFn = Bf16GemmUkernel*;

// A rows for the bf16 kernels: y[i] = bf16(x[i]), round to nearest even.
using F32ToBf16 = void(const float* x, size_t n, uint16_t* y);
using F32ToBf16Fn = F32ToBf16*;

// ---- int8: u8 A x s8 W, int32 accumulation --------------------------------------------------
//
// acc[m][n] = sum_k (a[m][k] - a_zero_point) * w[k][n]      (exact int32; W is symmetric)
//           = sum_k a[m][k] * w[k][n] - a_zero_point * colsum[n]
// then one of three outputs:
//   kQGemmOutInt32: c (int32_t) = acc + (bias_i32 ? bias_i32[n] : 0)
//   kQGemmOutF32:   c (float)   = clamp(float(acc) * scale[n] + (bias_f32 ? bias_f32[n] : 0))
//   kQGemmOutU8:    c (uint8_t) = clamp(rint_even(float(acc + bias_i32[n]) * scale[n])
//                                       + out_zero_point, qmin, qmax)
// The u8 output clamps the float to [qmin - zp, qmax - zp] before rounding and adding the
// zero point, which equals the formula for every finite value and never overflows int32;
// out_zero_point is in [0, 255]. NaN: the f32 output passes it through the clamp, the u8
// output turns it into qmin. Kernels read all 16 entries of colsum, bias_i32, scale and
// bias_f32 even when nc < 16. Exact while the true sum fits int32: K <= 65536.
// float(acc) is int32 -> f32 rounded to nearest even (cvtdq2ps); scale[n] is given per panel
// (the driver computes it in f32). Separate multiply and add, never a fused multiply-add:
// each operation rounds once, so every ISA is bit-exact with the scalar kernel in all three
// outputs. A null bias_i32 means zero in the u8 output too.
enum QGemmOutKind : uint32_t { kQGemmOutInt32 = 0, kQGemmOutF32 = 1, kQGemmOutU8 = 2 };

struct QGemmParams {
  uint32_t out_kind;         // QGemmOutKind
  int32_t a_zero_point;
  const int32_t* colsum;     // 16 per panel: sum over k of w[k][n]
  const int32_t* bias_i32;   // 16 per panel, or null (int32 and u8 outputs)
  const float* scale;        // 16 per panel (f32 and u8 outputs)
  const float* bias_f32;     // 16 per panel, or null (f32 output)
  float min, max;            // f32 output clamp
  int32_t out_zero_point;    // u8 output
  int32_t qmin, qmax;        // u8 output clamp, within [0, 255]
};

// a: mr rows of k bytes (row stride a_stride bytes); w: the panel, [ceil(k/4)][16][4];
// c: row stride c_stride in elements of the output type.
using QGemmUkernel = void(size_t mr, size_t nc, size_t k, const uint8_t* a,
                          size_t a_stride, const int8_t* w, void* c, size_t c_stride,
                          const QGemmParams* params);
using QGemmUkernelFn = QGemmUkernel*;

FNN_UKERNEL_SIG(GemmF32, F32GemmUkernel);
FNN_UKERNEL_SIG(GemmF32F16w, F32F16wGemmUkernel);
FNN_UKERNEL_SIG(GemmF32Bf16w, F32Bf16wGemmUkernel);
FNN_UKERNEL_SIG(GemmBf16, Bf16GemmUkernel);
FNN_UKERNEL_SIG(F32ToBf16, F32ToBf16);
FNN_UKERNEL_SIG(GemmQu8Qs8w, QGemmUkernel);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/gemm/gemm_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
