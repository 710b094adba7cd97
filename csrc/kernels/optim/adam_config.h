#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/optim/adam.h"

namespace fnn {

struct AdamConfig {
  F32AdamFn f32 = nullptr;
};

// The config of the active ISA level.
inline const AdamConfig& adam_config() { return ukernels_for_active_level<AdamConfig, UkernelOp::kF32Adam>(); }

}  // namespace fnn
