#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/quant/quant.h"

namespace fnn {

struct QuantConfig {
  F32MinmaxFn minmax = nullptr;
  F32Qu8Fn qu8 = nullptr;
};

// The config of the active ISA level (runtime_info reads the kernels' ISAs from the lists).
inline const QuantConfig& quant_config() {
  return ukernels_for_active_level<QuantConfig, UkernelOp::kF32Minmax, UkernelOp::kF32Qu8>();
}

}  // namespace fnn
