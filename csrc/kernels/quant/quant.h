// Activation quantization kernels (ONNX DynamicQuantizeLinear's two passes).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

// Updates *lo / *hi with the min / max of x[0..n) and returns false if any element is NaN or
// infinite (then lo / hi are unspecified).
using F32MinmaxFn = bool (*)(const float* x, size_t n, float* lo, float* hi);
// y[i] = clamp(rint_even(x[i] / scale) + zero_point, 0, 255). x finite, |x / scale| <= 2^22.
// Division, not a multiply by the reciprocal: bit-exact with the ONNX definition.
using F32Qu8Fn = void (*)(const float* x, size_t n, float scale, int32_t zero_point,
                          uint8_t* y);

bool f32_minmax_ukernel__scalar(const float* x, size_t n, float* lo, float* hi);
bool f32_minmax_ukernel__avx2(const float* x, size_t n, float* lo, float* hi);
bool f32_minmax_ukernel__avx512(const float* x, size_t n, float* lo, float* hi);

void f32_qu8_ukernel__scalar(const float* x, size_t n, float scale, int32_t zero_point,
                             uint8_t* y);
void f32_qu8_ukernel__avx2(const float* x, size_t n, float scale, int32_t zero_point,
                           uint8_t* y);
void f32_qu8_ukernel__avx512(const float* x, size_t n, float scale, int32_t zero_point,
                             uint8_t* y);

}  // namespace fnn
