// f32 depthwise micro-kernel, AVX2 + FMA: 8-channel blocks (one ymm) through the whole pixel
// run, 3x3 weights in registers (f32_dwconv_tile.h).
#include "kernels/common/vec16_avx2.h"
#include "kernels/conv/f32_dwconv_tile.h"

namespace fnn {

void f32_dwconv_ukernel__avx2(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo,
                              float hi, float* y) {
  f32_dwconv<Avx2Vec16>(n, c, t, bias, lo, hi, y);
}

}  // namespace fnn
