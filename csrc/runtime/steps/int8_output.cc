#include "runtime/steps/int8_output.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace fnn {
namespace {

uint8_t quantize_bound(float v, const TensorInfo& t) {
  if (!(v > -std::numeric_limits<float>::infinity())) return 0;
  if (!(v < std::numeric_limits<float>::infinity())) return 255;
  const float q = std::nearbyint(v / t.scale) + static_cast<float>(t.zero_point);
  return static_cast<uint8_t>(std::min(255.f, std::max(0.f, q)));
}

}  // namespace

QuantArgs int8_output_args(const Step& s, const QuantIn& input, const TensorInfo& out) {
  QuantArgs q;
  q.a_scale = input.scale;
  q.a_zero_point = input.zero_point;
  q.relu = s.lo == 0.0f;
  q.output = out.dtype == DType::kU8 ? QOutput::kU8 : QOutput::kF32;
  q.out_scale = out.scale;
  q.out_zero_point = out.zero_point;
  return q;
}

QOutputStage eltwise_output_stage(const Step& s, const TensorInfo& out) {
  QOutputStage o;
  o.u8 = out.dtype == DType::kU8;
  if (o.u8) {
    o.scale = out.scale;
    o.zero_point = out.zero_point;
    o.qmin = s.lo == 0.0f ? out.zero_point : 0;
  } else {
    o.lo = s.lo;
    o.hi = s.hi;
  }
  return o;
}

void finish_int8_clamp(const Step& s, const TensorInfo& out, void* y, size_t rows, size_t cols,
                       size_t ldy) {
  const bool lo_left = s.lo > -std::numeric_limits<float>::infinity() && s.lo != 0.0f;
  const bool hi_left = s.hi < std::numeric_limits<float>::infinity();
  if (!lo_left && !hi_left) return;
  if (out.dtype == DType::kU8) {
    // Quantizing commutes with a clamp: clamp the u8 values at the quantized bounds.
    const uint8_t lo = quantize_bound(s.lo, out), hi = quantize_bound(s.hi, out);
    auto* q = static_cast<uint8_t*>(y);
    for (size_t r = 0; r < rows; ++r) clamp_u8(cols, q + r * ldy, q + r * ldy, lo, hi);
    return;
  }
  auto* f = static_cast<float*>(y);
  for (size_t r = 0; r < rows; ++r) clamp_f32(cols, f + r * ldy, f + r * ldy, s.lo, s.hi);
}

bool fold_int8_clamp(const Step& s, const TensorInfo& out, int32_t* qmin, int32_t* qmax) {
  if (out.dtype != DType::kU8) return false;
  const bool lo_left = s.lo > -std::numeric_limits<float>::infinity() && s.lo != 0.0f;
  const int32_t lo = lo_left ? std::max<int32_t>(*qmin, quantize_bound(s.lo, out)) : *qmin;
  const int32_t hi = std::min<int32_t>(*qmax, quantize_bound(s.hi, out));
  if (lo > hi) return false;
  *qmin = lo;
  *qmax = hi;
  return true;
}

bool fold_int8_clamp(const Step& s, float* lo, float* hi) {
  const bool lo_left = s.lo > -std::numeric_limits<float>::infinity() && s.lo != 0.0f;
  const bool hi_left = s.hi < std::numeric_limits<float>::infinity();
  if (hi_left && s.hi == 0.0f) return false;
  // The kernels' clamp is max(v, lo) then min(v, hi); finish_int8_clamp's is the same
  // comparison order on the kernel's result, so for any non-NaN v the narrower bounds give it.
  const float l = lo_left ? std::max(*lo, s.lo) : *lo;
  const float h = hi_left ? std::min(*hi, s.hi) : *hi;
  if (!(l <= h)) return false;
  *lo = l;
  *hi = h;
  return true;
}

}  // namespace fnn
