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

}  // namespace fnn
