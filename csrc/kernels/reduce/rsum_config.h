#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/reduce/rsum.h"

namespace fnn {

struct RsumConfig {
  U8RsumFn u8 = nullptr;
  F32RsumFn f32 = nullptr;
};

// The config of the active ISA level (runtime_info reads the kernels' ISAs from the lists).
inline const RsumConfig& rsum_config() {
  return ukernels_for_active_level<RsumConfig, UkernelOp::kRsumU8, UkernelOp::kRsumF32>();
}

}  // namespace fnn
