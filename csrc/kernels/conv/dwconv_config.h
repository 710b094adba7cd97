#pragma once

#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {

struct DwconvConfig {
  F32DwUkernelFn f32 = nullptr;
  const char* f32_isa = "";
  QDwUkernelFn qu8 = nullptr;
  const char* qu8_isa = "";
};

// The config of the active ISA level.
const DwconvConfig& dwconv_config();

}  // namespace fnn
