// The u8 element-wise add micro-kernels (ONNX QLinearAdd, a residual add of an int8 network):
// y = clamp(a_mul * (a - a_zp) + b_mul * (b - b_zp)) in float, written as u8 (rounded half to
// even, plus the output zero point) or as float32. One kernel per ISA level; every SIMD kernel
// is bit-exact with the scalar one, whose arithmetic is the reference: int32 differences
// converted to float, two products, one add (each rounded, never fused), the clamps
// `f > lo ? f : lo` then `f < hi ? f : hi` (maxps / minps: a NaN gives lo), then the rounding.
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// One call's constants, prepared once per step (add_qu8 in eltwise.h builds them).
struct QVaddParams {
  int32_t a_zero_point = 0, b_zero_point = 0;
  // u8 output: each input's scale over the output scale; float32 output: the input scales.
  float a_mul = 1.f, b_mul = 1.f;
  // u8 output: [qmin - zero_point, qmax - zero_point], whole numbers with
  // 0 <= qmin <= qmax <= 255 (so the u8 store never wraps); float32 output: the clamp.
  float lo = -__builtin_inff(), hi = __builtin_inff();
  int32_t out_zero_point = 0;
  bool out_u8 = true;
};

// y[i] for i < n (uint8_t or float by p->out_u8); nothing past y[n - 1] is written.
using VaddQu8 = void(size_t n, const uint8_t* a, const uint8_t* b, void* y, const QVaddParams* p);
using VaddQu8Fn = VaddQu8*;

FNN_UKERNEL_SIG(VaddQu8, VaddQu8);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/eltwise/qu8_vadd_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
