#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/eltwise/qu8_vadd.h"

namespace fnn {

struct VaddQu8Config {
  VaddQu8Fn qu8 = nullptr;
};

// The config of the active ISA level.
inline const VaddQu8Config& vadd_qu8_config() {
  return ukernels_for_active_level<VaddQu8Config, UkernelOp::kVaddQu8>();
}

}  // namespace fnn
