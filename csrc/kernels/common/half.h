// IEEE binary16 and bfloat16 conversions for portable code (packing, scalar kernels,
// reference paths). Rounding is to nearest, ties to even, as F16C's vcvtps2ph and numpy's
// astype do. Widening is exact and matches vcvtph2ps bit for bit (NaNs quieted).
#pragma once

#include <cstdint>
#include <cstring>

namespace fnn {

uint16_t f32_to_f16(float f);

// Inline and branch-free (selects, no loop): the scalar f16-weight kernel widens a panel row
// per k step with it.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t magnitude = h & 0x7FFFu;
  // Normal: rebias the exponent (15 -> 127). inf / NaN: exponent 255, payload kept and NaNs
  // quieted, as vcvtph2ps does.
  uint32_t bits = (magnitude << 13) + 0x38000000u;
  const bool inf_nan = magnitude >= 0x7C00u;
  const bool nan = magnitude > 0x7C00u;
  bits += inf_nan ? 0x38000000u : 0u;
  bits |= nan ? 0x400000u : 0u;
  // Zero or subnormal: magnitude * 2^-24, exact (and a normal float, so FTZ/DAZ can't bite).
  const float tiny = static_cast<float>(magnitude) * 0x1p-24f;
  uint32_t tiny_bits;
  std::memcpy(&tiny_bits, &tiny, sizeof(tiny_bits));
  bits = (magnitude < 0x0400u ? tiny_bits : bits) | sign;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t f32_to_bf16(float f);
// bf16 is the high half of an f32: widening is a shift (inline: the scalar bf16-weight kernel
// widens a panel row per k step).
inline float bf16_to_f32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace fnn
