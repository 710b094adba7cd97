// Codebook (k-means) weights: decoding one packed panel's b-bit indices into the f32 panel rows
// the f32 GEMM micro-kernels read. The GEMM driver decodes each (K block x 16-column panel)
// slice once and reuses it for every row tile, so at large M the lookup costs nothing and at
// batch 1 it is one vector permute (or gather) per 16 weights.
//
// Index rows (one per k, per 16-column panel):
//   bits 2..4   8 bytes: byte j holds column j in its low nibble and column j + 8 in its high
//               nibble (one load + two masks give the 16 lanes in order)
//   bits 5..8   16 bytes: byte j is column j
// Tables: per layer, one table of 2^bits floats, of which 16 must be readable when bits <= 4
// (PackedWeights pads the section to 64 bytes: the permute loads a whole zmm); per channel,
// 16 tables of 2^bits floats back to back, column j's at tables + j * 2^bits.
// Every index must be < 2^bits (the packer and the .fnn reader check it): the gathers use it
// as an offset.
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {

// out[r][j] = table(j)[index(r, j)] for r < rows, j < 16; out is rows x 16 floats.
using F32CodebookDecode = void(size_t rows, uint32_t bits, bool per_channel, const uint8_t* idx,
                               const float* tables, float* out);
using F32CodebookDecodeFn = F32CodebookDecode*;

// Few rows (batch 1 and the like) of f32 A times 4-bit per-layer codebook W, decoded in
// registers: C[mr x nc] = A[mr x k] * table[W] (+ bias), as the f32 GEMM kernels define it
// (GemmF32Params: accumulate, clamp). w: k index rows of 8 bytes (the nibble format above);
// table: 16 floats. At one row the decoded slice of the driver's path would be stored and
// read back once per use: here each row of 16 weights is one permute feeding the FMAs.
using F32Codebook4wGemmUkernel = void(size_t mr, size_t nc, size_t k, const float* a,
                                      size_t a_stride, const uint8_t* w, const float* table,
                                      float* c, size_t c_stride, const GemmF32Params* params);
using F32Codebook4wGemmUkernelFn = F32Codebook4wGemmUkernel*;

FNN_UKERNEL_SIG(F32CodebookDecode, F32CodebookDecode);
FNN_UKERNEL_SIG(GemmF32Codebook4w, F32Codebook4wGemmUkernel);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/gemm/codebook_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
