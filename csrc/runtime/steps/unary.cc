// The element-wise float32 kinds: unary (a coded function with constants alpha, beta:
// LeakyRelu, Elu, Tanh, Gelu, Exp, Log, Sqrt, Pow by a constant, SiLU, HardSigmoid, ...),
// sigmoid and hard_swish (one fixed function each, without parameters). All run the active
// ISA level's unary micro-kernel (kernels/eltwise/unary_f32.h), the one a conv / dense
// epilogue runs when the same function is fused into it: fused or not, the values agree.
#include "runtime/steps/unary.h"

#include <string>

#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {

std::string unary_op_name(size_t op) {
  static const char* const kNames[] = {
      "leaky_relu", "elu",    "tanh",       "gelu", "gelu_tanh", "exp",                 "log",
      "sqrt",       "pow",    "silu",       "hard_sigmoid", "softplus", "abs",        "neg",
      "reciprocal", "erf",    "selu",       "quantize_dequantize", "sigmoid", "hard_swish",
      "silu_quantized_gate"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(UnaryOp::kCount), "one name per UnaryOp");
  return op < static_cast<size_t>(UnaryOp::kCount) ? kNames[op] : "unary" + std::to_string(op);
}

UnaryEpilogue unary_epilogue(const std::vector<FusedUnary>& v) {
  UnaryEpilogue e;
  e.fn = unary_config().f32;
  constexpr size_t kSlots = sizeof(e.args) / sizeof(e.args[0]);
  static_assert(kSlots >= kMaxFusedUnary, "the epilogue holds every function a step may fuse");
  e.count = v.size() < kSlots ? v.size() : kSlots;  // checked: never more than kMaxFusedUnary
  for (size_t i = 0; i < e.count; ++i) {
    e.args[i].op = v[i].op;
    e.args[i].alpha = v[i].alpha;
    e.args[i].beta = v[i].beta;
    e.args[i].lo = v[i].lo;
    e.args[i].hi = v[i].hi;
  }
  return e;
}

std::string fused_label(const std::vector<FusedUnary>& v) {
  std::string s;
  for (const FusedUnary& f : v) s += "+" + unary_op_name(f.op);
  return s;
}

namespace {

void run_unary(const StepRun& r, const UnaryArgs& args) {
  const UnaryF32Fn fn = unary_config().f32;
  const float* x = r.in();
  float* y = r.out();
  parallel_ranges(r.out_values(), 16384, r.threads, [&](size_t b, size_t e) { fn(e - b, x + b, y + b, &args); });
}

class UnaryStep final : public StepKindWith<UnaryParams> {
 public:
  const char* name() const override { return "unary"; }
  std::string label(const Step& s) const override {
    return "unary:" + unary_op_name(s.params_as<UnaryParams>().op);
  }
  void check_params(const StepCheck& c, const UnaryParams& p) const override {
    c.expect(p.op < static_cast<size_t>(UnaryOp::kCount), "unknown unary function " + std::to_string(p.op));
    c.expect(p.constants.size() == 2, "needs its two constants (alpha, beta)");
    c.unary(/*clamps=*/true);
    c.all_f32();
  }
  void run_params(const StepRun& r, const UnaryParams& p) const override {
    UnaryArgs args;
    args.op = p.op;
    args.alpha = p.constants[0];
    args.beta = p.constants[1];
    args.lo = r.step.lo;
    args.hi = r.step.hi;
    run_unary(r, args);
  }
};

// A kind that is one fixed function, without parameters or clamp (sigmoid, hard_swish).
class FixedUnaryStep final : public StepKindImpl {
 public:
  FixedUnaryStep(const char* name, UnaryOp op) : name_(name), op_(op) {}
  const char* name() const override { return name_; }
  void check(const StepCheck& c) const override {
    c.no_params();
    c.unary();
    c.all_f32();
  }
  void run(const StepRun& r) const override {
    UnaryArgs args;
    args.op = static_cast<size_t>(op_);
    run_unary(r, args);
  }

 private:
  const char* name_;
  UnaryOp op_;
};

}  // namespace

FNN_DEFINE_STEP_KIND(unary_step, UnaryStep)

const StepKindImpl& sigmoid_step() {
  static const FixedUnaryStep instance("sigmoid", UnaryOp::kSigmoid);
  return instance;
}

const StepKindImpl& hard_swish_step() {
  static const FixedUnaryStep instance("hard_swish", UnaryOp::kHardSwish);
  return instance;
}

}  // namespace fnn
