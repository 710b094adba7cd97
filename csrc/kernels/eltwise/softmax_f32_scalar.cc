// The f32 softmax micro-kernel of scalar: softmax_f32_body.h compiled at this ISA level.
#include "kernels/eltwise/softmax_f32_body.h"

namespace fnn {

void f32_softmax_ukernel__scalar(size_t rows, size_t cols, const float* x, float* y) {
  softmax_f32_body(rows, cols, x, y);
}

}  // namespace fnn
