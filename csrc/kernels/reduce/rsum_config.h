#pragma once

#include "kernels/reduce/rsum.h"

namespace fnn {

struct RsumConfig {
  U8RsumFn u8 = nullptr;
  const char* u8_isa = "";
  F32RsumFn f32 = nullptr;
  const char* f32_isa = "";
};

// The config of the active ISA level.
const RsumConfig& rsum_config();

}  // namespace fnn
