#pragma once

#include <cstddef>
#include <vector>

#include "runtime/step.h"

namespace fnn {

// The element-wise functions of the unary step (codes are stored in .fnn files: append only).
enum class UnaryOp : size_t {
  kLeakyRelu = 0,    // x < 0 ? alpha * x : x
  kElu = 1,          // x < 0 ? alpha * (exp(x) - 1) : x
  kTanh = 2,
  kGelu = 3,         // x * Phi(x), with erf
  kGeluTanh = 4,     // the tanh approximation
  kExp = 5,
  kLog = 6,
  kSqrt = 7,
  kPow = 8,          // x ^ alpha
  kSilu = 9,         // x * sigmoid(x)
  kHardSigmoid = 10, // clamp(alpha * x + beta, 0, 1)
  kSoftplus = 11,    // log(1 + exp(x))
  kAbs = 12,
  kNeg = 13,
  kReciprocal = 14,
  kErf = 15,
  kSelu = 16,        // beta * (x < 0 ? alpha * (exp(x) - 1) : x)
  kQuantizeDequantize = 17,  // (clamp(nearbyint(x / alpha) + beta, 0, 255) - beta) * alpha
  kCount = 18,
};

// y = f(x) for one of UnaryOp's functions with its constants alpha, beta.
struct UnaryParams : StepParams {
  size_t op = 0;
  std::vector<float> constants;  // {alpha, beta}
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.op), f(p.constants);
  }
};

}  // namespace fnn
