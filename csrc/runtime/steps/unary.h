#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/eltwise/unary_config.h"
#include "runtime/step.h"

namespace fnn {

// unary: y = clamp(f(x)) for one of UnaryOp's functions (kernels/eltwise/unary_f32.h) with
// its constants alpha, beta; the clamp is the step's lo / hi.
struct UnaryParams : StepParams {
  size_t op = 0;
  std::vector<float> constants;  // {alpha, beta}
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.op), f(p.constants);
  }
};

// The function's name in listings ("silu"), or "unary<op>" for a code past the list.
std::string unary_op_name(size_t op);

// The epilogue that runs fused activations with the active ISA level's kernel.
UnaryEpilogue unary_epilogue(const std::vector<FusedUnary>& v);

// "+name" per fused activation, for a step's label ("+silu"); empty for none.
std::string fused_label(const std::vector<FusedUnary>& v);

}  // namespace fnn
