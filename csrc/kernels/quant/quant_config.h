#pragma once

#include "kernels/quant/quant.h"

namespace fnn {

struct QuantConfig {
  F32MinmaxFn minmax = nullptr;
  F32Qu8Fn qu8 = nullptr;
  const char* isa = "";
};

// The config of the active ISA level.
const QuantConfig& quant_config();

}  // namespace fnn
