#include "kernels/common/vec16_avx512.h"
#include "kernels/optim/f32_adam_vec16.h"

namespace fnn {

void f32_adam_ukernel__avx512(size_t n, float* param, const float* grad, float* m, float* v,
                            const AdamStepArgs* a) {
  adam_vec16<Avx512Vec16>(n, param, grad, m, v, a);
}

}  // namespace fnn
