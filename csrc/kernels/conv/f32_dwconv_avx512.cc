// f32 depthwise micro-kernel, AVX-512: 16-channel blocks (one zmm) through the whole pixel
// run, 3x3 weights in registers, a masked tail block (f32_dwconv_tile.h).
#include "kernels/common/vec16_avx512.h"
#include "kernels/conv/f32_dwconv_tile.h"

namespace fnn {

void f32_dwconv_ukernel__avx512(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo,
                                float hi, float* y) {
  f32_dwconv<Avx512Vec16>(n, c, t, bias, lo, hi, y);
}

}  // namespace fnn
