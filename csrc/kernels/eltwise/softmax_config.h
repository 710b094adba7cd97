#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/eltwise/softmax_f32.h"

namespace fnn {

struct SoftmaxConfig {
  SoftmaxF32Fn f32 = nullptr;
};

// The config of the active ISA level.
inline const SoftmaxConfig& softmax_config() {
  return ukernels_for_active_level<SoftmaxConfig, UkernelOp::kSoftmaxF32>();
}

}  // namespace fnn
