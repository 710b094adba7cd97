// IEEE binary16 and bfloat16 conversions for portable code (packing, reference paths).
// Rounding is to nearest, ties to even, as F16C's vcvtps2ph and numpy's astype do.
#pragma once

#include <cstdint>

namespace fnn {

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t b);

}  // namespace fnn
