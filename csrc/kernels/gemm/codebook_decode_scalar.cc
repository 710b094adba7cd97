// The reference decode: one table lookup per weight.
#include <cassert>

#include "kernels/gemm/codebook_decode.h"

namespace fnn {

void f32_codebook_decode_ukernel_x16__scalar(size_t rows, uint32_t bits, bool per_channel,
                                             const uint8_t* idx, const float* tables, float* out) {
  assert(bits >= 2 && bits <= 8);
  assert(idx != nullptr && tables != nullptr && out != nullptr);
  const size_t stride = per_channel ? size_t{1} << bits : 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < 16; ++j) {
      const uint32_t i = bits <= 4 ? (idx[r * 8 + j % 8] >> (j / 8 * 4)) & 0x0Fu : idx[r * 16 + j];
      out[r * 16 + j] = tables[j * stride + i];
    }
  }
}

void f32_codebook4w_gemm_ukernel_4x16__scalar(size_t mr, size_t nc, size_t k, const float* a,
                                              size_t a_stride, const uint8_t* w, const float* table,
                                              float* c, size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4 && nc >= 1 && nc <= 16 && k >= 1);
  assert(a != nullptr && w != nullptr && table != nullptr && c != nullptr && params != nullptr);
  for (size_t m = 0; m < mr; ++m) {
    for (size_t j = 0; j < nc; ++j) {
      float acc = params->flags & kGemmAccumulate ? c[m * c_stride + j]
                  : params->bias != nullptr       ? params->bias[j]
                                                  : 0.f;
      for (size_t kk = 0; kk < k; ++kk) {
        acc += a[m * a_stride + kk] * table[(w[kk * 8 + j % 8] >> (j / 8 * 4)) & 0x0Fu];
      }
      if (params->flags & kGemmClamp) acc = acc < params->min ? params->min : acc > params->max ? params->max : acc;
      c[m * c_stride + j] = acc;
    }
  }
}

}  // namespace fnn
