// One step of a compiled Program: what every kind shares (kind, name, the tensors it reads
// and writes, the clamp of its output) and its kind's own typed parameters. A kind's
// parameters and everything it does with them — check, scratch, run, .fnn record — live in
// its file steps/<kind>.cc (see step_kind.h); nothing else switches on the kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fnn {

enum class StepKind : int {
#define FNN_STEP_KIND(id, impl, what) id,
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
};
constexpr int kNumStepKinds = 0
#define FNN_STEP_KIND(id, impl, what) +1
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
    ;

// The base of every kind's parameters (steps/<kind>.h). Kinds without parameters have none
// (a null pointer).
struct StepParams {
  virtual ~StepParams() = default;
};

// The u8 parameters a step reads a tensor with: real = scale * (q - zero_point).
struct QuantIn {
  float scale = 1.f;
  int32_t zero_point = 0;
};

// An element-wise function fused into a conv2d / dense / depthwise_conv2d step: a chain of
// up to kMaxFusedUnary of them is applied, in order, to each output tile after the step's
// clamp [Step::lo, Step::hi], each clamped to its own [lo, hi] (unary / sigmoid / hard_swish
// steps run in the producer's epilogue, while the tile is in cache). op is a UnaryOp code
// (kernels/eltwise/unary_f32.h).
constexpr size_t kMaxFusedUnary = 4;
struct FusedUnary {
  size_t op = 0;
  float alpha = 0.f, beta = 0.f;
  float lo = -__builtin_inff(), hi = __builtin_inff();
};

struct Step {
  StepKind kind = StepKind::kClamp;
  std::string name;
  std::vector<int> in;
  int out = -1;
  // The output clamp (ReLU, ReLU6, Clip fused): kinds that do not clamp keep +-inf.
  float lo = -__builtin_inff(), hi = __builtin_inff();
  std::shared_ptr<StepParams> params;

  // The parameters as the kind's type, or null when they are another type (or absent). The
  // checker calls it; code behind a passed check may use params_as<P>() directly.
  template <typename P>
  P* try_params() const {
    return dynamic_cast<P*>(params.get());
  }
  template <typename P>
  P& params_as() const {
    return static_cast<P&>(*params);
  }
};

}  // namespace fnn
