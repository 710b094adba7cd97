// The f32 unary micro-kernel of avx512: unary_f32_body.h compiled at this ISA level.
#include "kernels/eltwise/unary_f32_body.h"

namespace fnn {

void f32_unary_ukernel__avx512(size_t n, const float* x, float* y, const UnaryArgs* args) {
  unary_f32_body(n, x, y, *args);
}

}  // namespace fnn
