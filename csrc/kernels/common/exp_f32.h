// exp(x) in float32 as straight-line arithmetic the compiler vectorizes at any ISA level
// (libm's expf is a call per element: 1.3 ns each, most of an EfficientNet's SiLU time).
// Cephes' range reduction and degree-6 polynomial: within 1 ulp of exp over the normal
// range; exp(x) for x > 88.72 is +inf, for x < -87.33 it is 0 (libm gives denormals down to
// -103.9), and NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace fnn {
namespace {  // each ISA translation unit that includes this compiles its own copy

inline float exp_f32(float x) {
  // Clamped so that the int conversion below is defined: a NaN fails the first comparison
  // and becomes -87.3 here (the result is x itself, chosen at the end).
  float xc = x > -87.3365f ? x : -87.3365f;
  xc = xc < 88.7228f ? xc : 88.7228f;
  // n = round(x / ln 2) by the 1.5 * 2^23 shift: exact for |n| < 2^22, and SSE2 has it.
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;  // ln 2 in two parts: the high one has 8 bits, n * it is exact
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n in two factors: n reaches 128 (x near 88.7, a finite result) and -126, past what
  // one exponent field holds.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const int32_t bits1 = (half + 127) << 23, bits2 = (ni - half + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &bits1, sizeof s1);
  std::memcpy(&s2, &bits2, sizeof s2);
  float y = p * s1 * s2;
  y = x > 88.7228f ? __builtin_inff() : y;
  y = x < -87.3365f ? 0.0f : y;
  return x != x ? x : y;
}

}  // namespace
}  // namespace fnn
