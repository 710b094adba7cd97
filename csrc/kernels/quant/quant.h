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

FNN_UKERNEL_SIG(F32Minmax, F32Minmax);
FNN_UKERNEL_SIG(F32Qu8, F32Qu8);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/quant/quant_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
