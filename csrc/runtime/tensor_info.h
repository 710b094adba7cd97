// A program tensor: per-sample size, where it lives (external, planned, alias) and its dtype.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

// kF32 and kU8 anywhere; kS8 only for a program input (an int8 camera / TFLite input), read
// by a dequantize step. The values are the .fnn 'TENS' dtype byte.
enum class DType : int { kF32 = 0, kU8 = 1, kS8 = 2 };

struct TensorInfo {
  size_t sample_elems = 0;  // elements per sample
  bool external = false;
  int alias_of = -1;        // another tensor whose memory this one is
  DType dtype = DType::kF32;
  float scale = 1.f;        // kU8 / kS8: real = scale * (q - zero_point)
  int32_t zero_point = 0;
  bool quantized() const { return dtype != DType::kF32; }
  size_t elem_bytes() const { return quantized() ? 1 : 4; }
};

}  // namespace fnn
