#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {

struct DwconvConfig {
  F32DwUkernelFn f32 = nullptr;
  QDwUkernelFn qu8 = nullptr;
};

// The config of the active ISA level (runtime_info reads the kernels' ISAs from the lists).
inline const DwconvConfig& dwconv_config() {
  return ukernels_for_active_level<DwconvConfig, UkernelOp::kDwconvF32, UkernelOp::kDwconvQu8>();
}

}  // namespace fnn
