// The row softmax micro-kernels: y = exp(x - max) / sum(exp(x - max)) per row, one kernel per
// ISA level: softmax_f32_body.h at the scalar level, softmax_f32_simd.h (the same algorithm in
// explicit vectors) at avx2 and avx512. Float results: the levels agree within an ulp or two,
// not bit for bit; at one level a row's result never depends on the threads.
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// `rows` rows of `cols` >= 1 values, rows `cols` apart; y may be x (in place). A row holding a
// NaN, or whose maximum is +-inf, comes out all NaN (as the float64 formula gives).
using SoftmaxF32 = void(size_t rows, size_t cols, const float* x, float* y);
using SoftmaxF32Fn = SoftmaxF32*;

FNN_UKERNEL_SIG(SoftmaxF32, SoftmaxF32);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/eltwise/softmax_f32_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
