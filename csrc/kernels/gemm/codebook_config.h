#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/gemm/codebook_decode.h"

namespace fnn {

struct CodebookConfig {
  F32CodebookDecodeFn f32 = nullptr;
  F32Codebook4wGemmUkernelFn gemm4w = nullptr;  // rows <= kCodebook4wMR, 4-bit per layer
};
constexpr size_t kCodebook4wMR = 4;

// The config of the active ISA level.
inline const CodebookConfig& codebook_config() {
  return ukernels_for_active_level<CodebookConfig, UkernelOp::kF32CodebookDecode,
                                   UkernelOp::kGemmF32Codebook4w>();
}

}  // namespace fnn
