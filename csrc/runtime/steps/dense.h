#pragma once

#include <memory>

#include "kernels/gemm/gemm.h"
#include "runtime/step.h"

namespace fnn {

// dense: y = x @ W (+ bias) through packed weights (f32 / f16 / bf16, or int8 reading a u8
// input quantized as `input` says).
struct DenseParams : StepParams {
  std::shared_ptr<PackedWeights> weights;
  QuantIn input;  // int8 weights only
  bool int8() const { return weights && weights->kind() == WeightKind::kInt8; }
  std::vector<FusedUnary> post;  // activations run in the epilogue (last: optional in the record)
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.weights), f(p.input), f(p.post);
  }
  // Derived (prepare): the int8 output stage.
  QuantArgs qargs;
  QGemmColumns columns;
};

}  // namespace fnn
