// int8 depthwise micro-kernel, AVX512-VNNI: vpdpbusd multiplies 4 window rows' u8 x s8 pairs
// and accumulates them in one instruction (qu8_dwconv_avx512.h).
#include "kernels/conv/qu8_dwconv_avx512.h"

namespace fnn {

void qu8_dwconv_ukernel__avx512vnni(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  qu8_dwconv_avx512<true>(n, c, t, p, y);
}

}  // namespace fnn
