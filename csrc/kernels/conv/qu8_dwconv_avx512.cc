// int8 depthwise micro-kernel, AVX-512 (F/BW/VL): vpmaddwd products (qu8_dwconv_avx512.h).
#include "kernels/conv/qu8_dwconv_avx512.h"

namespace fnn {

void qu8_dwconv_ukernel__avx512(size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  qu8_dwconv_avx512<false>(c, t, p, y);
}

}  // namespace fnn
