#pragma once

#include "kernels/sparse/spmm_ukernels.h"

namespace fnn {

struct SpmmConfig {
  SpmmUkernels kernels;
};

// The config of the active ISA level (runtime_info reads the kernels' ISAs from the lists).
const SpmmConfig& spmm_config();

}  // namespace fnn
