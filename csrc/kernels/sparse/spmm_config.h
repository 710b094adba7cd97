#pragma once

#include "kernels/sparse/spmm_ukernels.h"

namespace fnn {

struct SpmmConfig {
  SpmmUkernels kernels;
  const char* isa = "";
};

// The config of the active ISA level.
const SpmmConfig& spmm_config();

}  // namespace fnn
