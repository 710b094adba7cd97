// int8 depthwise micro-kernel, AVX512-VNNI: vpdpwssd multiplies and accumulates in one
// instruction (qu8_dwconv_avx512.h).
#include "kernels/conv/qu8_dwconv_avx512.h"

namespace fnn {

void qu8_dwconv_ukernel__avx512vnni(size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  qu8_dwconv_avx512<true>(c, t, p, y);
}

}  // namespace fnn
