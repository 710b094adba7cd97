// Scalar rounding and clamping in the forms every loop of the runtime shares, written so GCC
// vectorizes the loops that use them (no libm call, no branch).
#pragma once

namespace fnn {

// nearbyint for |v| <= 2^22 (round half to even in the default rounding mode) without the
// libm call std::nearbyint becomes on baseline x86-64 (no SSE4.1 roundss): adding 1.5 * 2^23
// leaves no fraction bits, and the constant is even. Beyond 2^22 the result keeps its sign
// and stays beyond 2^21, so a clamp to an 8-bit range that follows still gives the bound.
inline float round_half_even_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// The comparison form of the GEMM epilogue, so every clamp in the runtime agrees: NaN passes
// through, and GCC turns each select into one maxps / minps.
inline float clamp_select(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

}  // namespace fnn
