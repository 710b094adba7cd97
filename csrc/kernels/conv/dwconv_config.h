#pragma once

#include "kernels/conv/qu8_dwconv.h"

namespace fnn {

struct DwconvConfig {
  QDwUkernelFn qu8 = nullptr;
  const char* qu8_isa = "";
};

// The config of the active ISA level.
const DwconvConfig& dwconv_config();

}  // namespace fnn
