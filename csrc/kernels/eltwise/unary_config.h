#pragma once

#include "kernels/common/ukernel_registry.h"
#include "kernels/eltwise/unary_f32.h"

namespace fnn {

struct UnaryConfig {
  UnaryF32Fn f32 = nullptr;
};

// The config of the active ISA level.
inline const UnaryConfig& unary_config() {
  return ukernels_for_active_level<UnaryConfig, UkernelOp::kUnaryF32>();
}

// y = clamp(f(x)) over a rows x cols block at row stride ldy, in place, for each of up to
// four functions in turn: activations fused into the epilogue of the kernel that just wrote
// the block (each row stays in L1 through the chain).
struct UnaryEpilogue {
  UnaryF32Fn fn = nullptr;
  size_t count = 0;
  UnaryArgs args[4];
};
void apply_unary_rows(const UnaryEpilogue& e, float* y, size_t rows, size_t cols, size_t ldy);

}  // namespace fnn
