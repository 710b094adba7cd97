// The reference u8 add: the arithmetic every SIMD kernel of the family reproduces bit for bit.
// Built without -m flags (no FMA to contract the product and the add into).
#include "kernels/common/scalar_round.h"
#include "kernels/eltwise/qu8_vadd.h"

namespace fnn {

void qu8_vadd_minmax_ukernel__scalar(size_t n, const uint8_t* a, const uint8_t* b, void* y,
                                     const QVaddParams* params) {
  // Locals only: stores through a uint8_t pointer may alias anything, so reading params'
  // fields in the loop would reload them every element and keep it scalar.
  const int32_t a_zp = params->a_zero_point, b_zp = params->b_zero_point;
  const float ra = params->a_mul, rb = params->b_mul;
  const float lo = params->lo, hi = params->hi;
  if (!params->out_u8) {
    auto* yf = static_cast<float*>(y);
    for (size_t i = 0; i < n; ++i) {
      float f = static_cast<float>(int32_t{a[i]} - a_zp) * ra;
      f = f + static_cast<float>(int32_t{b[i]} - b_zp) * rb;
      f = f > lo ? f : lo;
      yf[i] = f < hi ? f : hi;
    }
    return;
  }
  const int32_t zp = params->out_zero_point;
  auto* yq = static_cast<uint8_t*>(y);
  for (size_t i = 0; i < n; ++i) {
    float f = static_cast<float>(int32_t{a[i]} - a_zp) * ra;
    f = f + static_cast<float>(int32_t{b[i]} - b_zp) * rb;
    f = f > lo ? f : lo;
    f = f < hi ? f : hi;
    yq[i] = static_cast<uint8_t>(static_cast<int32_t>(round_half_even_small(f)) + zp);
  }
}

}  // namespace fnn
