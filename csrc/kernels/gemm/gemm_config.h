#pragma once

#include <cstddef>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {

template <typename Fn>
struct GemmUkernel {
  Fn fn = nullptr;
  size_t mr = 0;
  size_t panels = 1;  // 16-column panels one call may cover (nr / 16)
  const char* isa = "";
};

struct GemmConfig {
  GemmUkernel<F32GemmUkernelFn> f32;
  GemmUkernel<F32F16wGemmUkernelFn> f16w;
  GemmUkernel<F32Bf16wGemmUkernelFn> bf16w;
  GemmUkernel<Bf16GemmUkernelFn> bf16;
  F32ToBf16Fn bf16_convert = nullptr;  // A rows for `bf16`
  GemmUkernel<QGemmUkernelFn> qu8;
};

// The config of the active ISA level, picked from gemm_ukernels.inc.
const GemmConfig& gemm_config();

}  // namespace fnn
