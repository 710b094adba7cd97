// Activation quantization kernels (ONNX DynamicQuantizeLinear's two passes).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// Updates *lo / *hi with the min / max of x[0..n) and returns false if any element is NaN or
// infinite (then lo / hi are unspecified).
using F32Minmax = bool(const float* x, size_t n, float* lo, float* hi);
using F32MinmaxFn = F32Minmax*;
// y[i] = clamp(rint_even(x[i] / scale) + zero_point, 0, 255). x finite, |x / scale| <= 2^22.
// Division, not a multiply by the reciprocal: bit-exact with the ONNX definition.
using F32Qu8 = void(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y);
using F32Qu8Fn = F32Qu8*;

template <> struct UkernelSig<UkernelOp::kF32Minmax> : UkernelSigOf<F32Minmax> {};
template <> struct UkernelSig<UkernelOp::kF32Qu8> : UkernelSigOf<F32Qu8> {};

#define FNN_UKERNEL(family, op, name, isa, rung, feature, mr, nr, kr) \
  UkernelSig<UkernelOp::k##op>::Type name;                              \
  constexpr UkernelTile name##_tile{mr, nr, kr};
#include "kernels/quant/quant_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
