// int8 depthwise micro-kernel, AVX-512 (F/BW/VL): two window rows' u8 x s8 products per
// vpmaddwd on u16 / s16 pairs (qu8_dwconv_avx512.h).
#include "kernels/conv/qu8_dwconv_avx512.h"

namespace fnn {

void qu8_dwconv_ukernel__avx512(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  qu8_dwconv_avx512<false>(n, c, t, p, y);
}

}  // namespace fnn
