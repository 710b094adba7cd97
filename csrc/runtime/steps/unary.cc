// unary: the element-wise functions exporters emit besides ReLU / Clip / Sigmoid / HardSwish
// (LeakyRelu, Elu, Tanh, Gelu, Exp, Log, Sqrt, Pow by a constant, SiLU, HardSigmoid, ...).
// One kind with a function code: each function is a portable loop the compiler vectorizes
// at the build's baseline ISA, instantiated per code so the switch is outside the loop.
#include "runtime/steps/unary.h"

#include <cmath>
#include <string>
#include <utility>

#include "kernels/common/exp_f32.h"
#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

template <UnaryOp kOp>
inline float apply(float x, float alpha, float beta) {
  if constexpr (kOp == UnaryOp::kLeakyRelu) return x < 0.0f ? alpha * x : x;
  if constexpr (kOp == UnaryOp::kElu) return x < 0.0f ? alpha * std::expm1(x) : x;
  if constexpr (kOp == UnaryOp::kTanh) return std::tanh(x);
  // 1 + erf(x / sqrt 2) = erfc(-x / sqrt 2), and 1 + tanh(z) = 2 / (1 + exp(-2z)): the sums
  // cancel to nothing in float32 for x below about -4, the right-hand sides stay accurate.
  if constexpr (kOp == UnaryOp::kGelu) return 0.5f * x * std::erfc(x * -0.70710678118654752f);
  if constexpr (kOp == UnaryOp::kGeluTanh) {
    return x / (1.0f + exp_f32(-1.5957691216057308f * (x + 0.044715f * x * x * x)));
  }
  if constexpr (kOp == UnaryOp::kExp) return exp_f32(x);
  if constexpr (kOp == UnaryOp::kLog) return std::log(x);
  if constexpr (kOp == UnaryOp::kSqrt) return std::sqrt(x);
  if constexpr (kOp == UnaryOp::kPow) return std::pow(x, alpha);
  // x / (1 + exp(-x)): exp overflows to inf for x < -88, giving -0, as it should.
  if constexpr (kOp == UnaryOp::kSilu) return x / (1.0f + exp_f32(-x));
  if constexpr (kOp == UnaryOp::kHardSigmoid) {
    float t = alpha * x + beta;
    t = t < 0.0f ? 0.0f : t;
    return t > 1.0f ? 1.0f : t;
  }
  // log1p(exp(x)) loses nothing for x <= 20 and is x beyond (exp would overflow past 88).
  if constexpr (kOp == UnaryOp::kSoftplus) return x > 20.0f ? x : std::log1p(std::exp(x));
  if constexpr (kOp == UnaryOp::kAbs) return std::fabs(x);
  if constexpr (kOp == UnaryOp::kNeg) return -x;
  if constexpr (kOp == UnaryOp::kReciprocal) return 1.0f / x;
  if constexpr (kOp == UnaryOp::kErf) return std::erf(x);
  if constexpr (kOp == UnaryOp::kSelu) return beta * (x < 0.0f ? alpha * std::expm1(x) : x);
  // A u8 QuantizeLinear -> DequantizeLinear pair feeding a float op: the value it carries is
  // rounded as the quantize step rounds (x / scale, half to even), saturated, and scaled back.
  if constexpr (kOp == UnaryOp::kQuantizeDequantize) {
    float q = std::nearbyint(x / alpha) + beta;
    q = q < 0.0f ? 0.0f : q;
    q = q > 255.0f ? 255.0f : q;
    return (q - beta) * alpha;
  }
  return x;
}

template <UnaryOp kOp>
void run_range(const float* x, float* y, size_t n, float alpha, float beta, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) {
    float v = apply<kOp>(x[i], alpha, beta);
    v = v < lo ? lo : v;
    y[i] = v > hi ? hi : v;
  }
}

using RangeFn = void (*)(const float*, float*, size_t, float, float, float, float);

template <size_t... I>
RangeFn pick(size_t op, std::index_sequence<I...>) {
  RangeFn fn = nullptr;
  ((op == I ? (fn = run_range<static_cast<UnaryOp>(I)>, 0) : 0), ...);
  return fn;
}

class UnaryStep final : public StepKindWith<UnaryParams> {
 public:
  const char* name() const override { return "unary"; }
  void check_params(const StepCheck& c, const UnaryParams& p) const override {
    c.expect(p.op < static_cast<size_t>(UnaryOp::kCount), "unknown unary function " + std::to_string(p.op));
    c.expect(p.constants.size() == 2, "needs its two constants (alpha, beta)");
    c.unary(/*clamps=*/true);
    c.all_f32();
  }
  void run_params(const StepRun& r, const UnaryParams& p) const override {
    const RangeFn fn = pick(p.op, std::make_index_sequence<static_cast<size_t>(UnaryOp::kCount)>{});
    const float* x = r.in();
    float* y = r.out();
    parallel_ranges(r.out_values(), 16384, r.threads, [&](size_t b, size_t e) {
      fn(x + b, y + b, e - b, p.constants[0], p.constants[1], r.step.lo, r.step.hi);
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(unary_step, UnaryStep)

}  // namespace fnn
