#include "kernels/common/vec16_avx2.h"
#include "kernels/optim/f32_adam_vec16.h"

namespace fnn {

void f32_adam_ukernel__avx2(size_t n, float* param, const float* grad, float* m, float* v,
                            const AdamStepArgs* a) {
  adam_vec16<Avx2Vec16>(n, param, grad, m, v, a);
}

}  // namespace fnn
