// The element-wise float32 functions of the runtime (the unary step family, Sigmoid,
// HardSwish, and the activations fused into a conv / dense epilogue): one micro-kernel per
// ISA level, y = clamp(f(x), lo, hi) with f picked by a function code.
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// The functions (codes are stored in .fnn files: append only).
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
  kSigmoid = 18,     // 1 / (1 + exp(-x))
  kHardSwish = 19,   // x * clamp(x / 6 + 1/2, 0, 1)
  // x * quantize_dequantize(sigmoid(x)): a QDQ model's SiLU, Sigmoid -> Q / DQ -> Mul
  kSiluQuantizedGate = 20,
  kCount = 21,
};

// One call's function and constants; the output is clamped to [lo, hi] after f.
struct UnaryArgs {
  size_t op = 0;  // a UnaryOp below kCount (the kernels assume it)
  float alpha = 0.f, beta = 0.f;
  float lo = -__builtin_inff(), hi = __builtin_inff();
};

// y[i] = clamp(f(x[i]), lo, hi) for i < n; y may be x (in place).
using UnaryF32 = void(size_t n, const float* x, float* y, const UnaryArgs* args);
using UnaryF32Fn = UnaryF32*;

FNN_UKERNEL_SIG(UnaryF32, UnaryF32);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/eltwise/unary_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
