// f32 depthwise micro-kernel, AVX-512: 32-channel blocks (two zmm) in registers across all
// taps, masked 16-channel tails (f32_dwconv_tile.h).
#include "kernels/common/vec16_avx512.h"
#include "kernels/conv/f32_dwconv_tile.h"

namespace fnn {

void f32_dwconv_ukernel__avx512(size_t c, const F32DwTaps& t, const float* bias, float lo,
                                float hi, float* y) {
  f32_dwconv<Avx512Vec16, 2>(c, t, bias, lo, hi, y);
}

}  // namespace fnn
