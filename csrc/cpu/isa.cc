#include "cpu/isa.h"

#include "cpu/cpu_features.h"

namespace fnn {

const char* isa_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kScalar: return "scalar";
#if defined(__aarch64__)
    case IsaLevel::kNeon: return "neon";
    case IsaLevel::kNeonDot: return "neondot";
#else
    case IsaLevel::kAvx2: return "avx2";
    case IsaLevel::kAvx512: return "avx512";
    case IsaLevel::kAvx512Vnni: return "avx512vnni";
#endif
  }
  return "?";
}

bool parse_isa(const std::string& name, IsaLevel* level) {
  for (int i = 0; i < kNumIsaLevels; ++i) {
    const auto l = static_cast<IsaLevel>(i);
    if (name == isa_name(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

bool isa_compiled(IsaLevel level) {
  switch (level) {
    case IsaLevel::kScalar: return true;
#ifdef FNN_BUILT_NEON
    case IsaLevel::kNeon: return true;
#endif
#ifdef FNN_BUILT_NEONDOT
    case IsaLevel::kNeonDot: return true;
#endif
#ifdef FNN_BUILT_AVX2
    case IsaLevel::kAvx2: return true;
#endif
#ifdef FNN_BUILT_AVX512
    case IsaLevel::kAvx512: return true;
#endif
#ifdef FNN_BUILT_AVX512VNNI
    case IsaLevel::kAvx512Vnni: return true;
#endif
    default: return false;
  }
}

bool isa_supported(IsaLevel level) {
  const CpuFeatures& f = cpu_features();
#if defined(__aarch64__)
  switch (level) {
    case IsaLevel::kScalar: return true;
    case IsaLevel::kNeon: return f.neon;
    case IsaLevel::kNeonDot: return f.neon && f.dotprod;
  }
#else
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  switch (level) {
    case IsaLevel::kScalar: return true;
    case IsaLevel::kAvx2: return avx2;
    case IsaLevel::kAvx512: return avx512;
    case IsaLevel::kAvx512Vnni: return avx512 && f.avx512vnni;
  }
#endif
  return false;
}

std::vector<IsaLevel> available_isas() {
  std::vector<IsaLevel> out;
  for (int i = 0; i < kNumIsaLevels; ++i) {
    const auto l = static_cast<IsaLevel>(i);
    // A rung is usable only if every rung below it is: kernels fall back level by level.
    if (!isa_compiled(l) || !isa_supported(l)) break;
    out.push_back(l);
  }
  return out;
}

IsaLevel best_isa() { return available_isas().back(); }

}  // namespace fnn
