// The body of the f32 unary micro-kernels: each function a portable loop, instantiated per
// function code so the switch is outside the loop, which the compiler vectorizes at the
// including translation unit's ISA (built with -fno-trapping-math, so the float selects
// if-convert). The exp-based functions and tanh go through exp_f32 (straight-line,
// vectorizable); erf, log, pow and the like are libm calls at every level.
// Everything is in an anonymous namespace: each ISA translation unit compiles its own copy.
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>

#include "kernels/common/exp_f32.h"
#include "kernels/eltwise/unary_f32.h"

namespace fnn {
namespace {

// exp(-|x|) never overflows; for x < 0, e / (1 + e) keeps the small values 1 / (1 + 1/e)
// would lose. +-inf give 1 and 0, NaN stays NaN.
inline float sigmoid_value(float x) {
  const float e = exp_f32(-std::fabs(x));
  const float r = 1.0f / (1.0f + e);
  return x < 0.0f ? e * r : r;
}

// A u8 QuantizeLinear -> DequantizeLinear pair feeding a float op: the value it carries is
// rounded as the quantize step rounds (x / scale, half to even), saturated, and scaled back.
inline float quantize_dequantize_value(float x, float scale, float zero_point) {
  float q = std::nearbyint(x / scale) + zero_point;
  q = q < 0.0f ? 0.0f : q;
  q = q > 255.0f ? 255.0f : q;
  return (q - zero_point) * scale;
}

// tanh as straight-line arithmetic (libm's tanhf is a call, about 13 ns a value): Cephes'
// odd polynomial below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above (no cancellation there),
// within 2 ulp; both are computed and one selected, so the loop vectorizes. Large |x| gives
// +-1 (exp overflows to inf), NaN stays NaN.
inline float tanh_value(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float large = 1.0f - 2.0f / (exp_f32(2.0f * ax) + 1.0f);
  return std::copysign(ax < 0.625f ? small : large, x);  // tanh(-0) = -0 too
}

template <UnaryOp kOp>
inline float unary_apply(float x, float alpha, float beta) {
  if constexpr (kOp == UnaryOp::kLeakyRelu) return x < 0.0f ? alpha * x : x;
  if constexpr (kOp == UnaryOp::kElu) return x < 0.0f ? alpha * std::expm1(x) : x;
  if constexpr (kOp == UnaryOp::kTanh) return tanh_value(x);
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
  if constexpr (kOp == UnaryOp::kQuantizeDequantize) return quantize_dequantize_value(x, alpha, beta);
  if constexpr (kOp == UnaryOp::kSigmoid) return sigmoid_value(x);
  // The same two roundings as the sigmoid and quantize_dequantize steps it replaces, then the
  // product the Mul step computes: fused or not, the same bits.
  if constexpr (kOp == UnaryOp::kSiluQuantizedGate) return x * quantize_dequantize_value(sigmoid_value(x), alpha, beta);
  if constexpr (kOp == UnaryOp::kHardSwish) {
    float t = x * (1.0f / 6.0f) + 0.5f;
    t = t < 0.0f ? 0.0f : t;
    t = t > 1.0f ? 1.0f : t;
    return x * t;
  }
  return x;
}

template <UnaryOp kOp>
void unary_range(size_t n, const float* x, float* y, float alpha, float beta, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) {
    float v = unary_apply<kOp>(x[i], alpha, beta);
    v = v < lo ? lo : v;
    y[i] = v > hi ? hi : v;
  }
}

using UnaryRangeFn = void (*)(size_t, const float*, float*, float, float, float, float);

template <size_t... I>
UnaryRangeFn unary_range_for(size_t op, std::index_sequence<I...>) {
  UnaryRangeFn fn = nullptr;
  ((op == I ? (fn = unary_range<static_cast<UnaryOp>(I)>, 0) : 0), ...);
  return fn;
}

inline void unary_f32_body(size_t n, const float* x, float* y, const UnaryArgs& a) {
  const UnaryRangeFn fn = unary_range_for(a.op, std::make_index_sequence<static_cast<size_t>(UnaryOp::kCount)>{});
  if (fn != nullptr) fn(n, x, y, a.alpha, a.beta, a.lo, a.hi);
}

}  // namespace
}  // namespace fnn
