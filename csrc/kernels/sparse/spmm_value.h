// One SpMM weight value as f32, for every value kind (f32, f16 bits, s8 before the row scale),
// with the f16 widening as a policy: SoftHalf (portable, kernels/common/half.h) for the
// scalar kernels, F16cHalf (vcvtph2ps) in translation units compiled with F16C.
// Template-only and in an anonymous namespace: each ISA translation unit has its own copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/sparse/spmm_ukernels.h"

#ifdef __F16C__
#include <immintrin.h>
#endif

namespace fnn {
namespace {

struct SoftHalf {
  static float to_f32(uint16_t h) { return f16_to_f32(h); }
};

#ifdef __F16C__
struct F16cHalf {
  static float to_f32(uint16_t h) { return _cvtsh_ss(h); }
};
#endif

template <int V, typename Half>
[[gnu::always_inline]] inline float spmm_value(const void* val, size_t i) {
  if constexpr (V == kSpmmF32) {
    return static_cast<const float*>(val)[i];
  } else if constexpr (V == kSpmmF16) {
    return Half::to_f32(static_cast<const uint16_t*>(val)[i]);
  } else {
    return static_cast<float>(static_cast<const int8_t*>(val)[i]);
  }
}

}  // namespace
}  // namespace fnn
