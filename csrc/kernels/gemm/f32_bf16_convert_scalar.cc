#include "kernels/common/half.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {

void f32_to_bf16_ukernel__scalar(const float* x, size_t n, uint16_t* y) {
  for (size_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

}  // namespace fnn
