// f32 depthwise micro-kernel, AArch64 Advanced SIMD: 8-channel blocks (two q registers side by
// side) through the whole pixel run, 3x3 weights in registers (f32_dwconv_tile.h).
#include "kernels/common/vec16_neon.h"
#include "kernels/conv/f32_dwconv_tile.h"

namespace fnn {

void f32_dwconv_ukernel__neon(size_t n, size_t c, const F32DwTaps& t, const float* bias, float lo,
                              float hi, float* y) {
  f32_dwconv<NeonVec16>(n, c, t, bias, lo, hi, y);
}

}  // namespace fnn
