// A program tensor: per-sample size, where it lives (external, planned, alias) and its dtype.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

enum class DType : int { kF32, kU8 };

struct TensorInfo {
  size_t sample_elems = 0;  // elements per sample
  bool external = false;
  int alias_of = -1;        // another tensor whose memory this one is
  DType dtype = DType::kF32;
  float scale = 1.f;        // kU8: real = scale * (q - zero_point)
  int32_t zero_point = 0;
  size_t elem_bytes() const { return dtype == DType::kU8 ? 1 : 4; }
};

}  // namespace fnn
