#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/gemm/codebook_decode.h"

namespace fnn {

struct CodebookConfig {
  F32CodebookDecodeFn f32 = nullptr;
};

// The config of the active ISA level.
inline const CodebookConfig& codebook_config() {
  return ukernels_for_active_level<CodebookConfig, UkernelOp::kF32CodebookDecode>();
}

}  // namespace fnn
