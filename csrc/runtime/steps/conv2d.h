#pragma once

#include <memory>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/gemm/gemm.h"
#include "runtime/step.h"

namespace fnn {

// conv2d: im2col tiles and one GEMM per group through packed weights (f32 / f16 / bf16, or
// int8 reading a u8 input quantized as `input` says). With pool_fused, a max-pool whose
// windows tile the conv output exactly (stride == window, no padding) is applied tile by
// tile, so the pre-pool map never exists whole.
struct Conv2dParams : StepParams {
  Conv2dGeometry geometry;  // per sample (n set at run time)
  std::vector<std::shared_ptr<PackedWeights>> weights;  // one per group
  QuantIn input;  // int8 weights only
  bool pool_fused = false;
  Pool2dGeometry pool;     // pool_fused only
  bool int8() const { return !weights.empty() && weights[0] && weights[0]->kind() == WeightKind::kInt8; }
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.geometry), f(p.weights), f(p.input), f(p.pool_fused), f(p.pool);
  }
  // Derived (prepare): the int8 output stage, one column set per group.
  QuantArgs qargs;
  std::vector<QGemmColumns> columns;
};

}  // namespace fnn
