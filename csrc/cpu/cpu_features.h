// What the CPU and the OS together support. Detected once; kernels never probe the CPU.
#pragma once

#include <string>

namespace fnn {

struct CpuFeatures {
  std::string arch;    // "x86_64", "aarch64", ...
  std::string vendor;  // CPUID vendor string on x86
  std::string brand;   // marketing name when the CPU reports one
  // x86. An AVX feature counts only if the OS saves the registers it uses (XCR0).
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx512fp16 = false;
  bool avxvnni = false;
  // Arm.
  bool neon = false;
  bool dotprod = false;
};

// Detected on first call, then cached.
const CpuFeatures& cpu_features();

}  // namespace fnn
