// ISA levels: the rungs of the dispatch ladder. A level implies every level below it.
#pragma once

#include <string>
#include <vector>

namespace fnn {

// Each architecture has its own ladder above kScalar; a build has one of them. The kernel
// lists name rungs of both, but a rung's kernels are compiled only on its architecture.
enum class IsaLevel : int {
  kScalar = 0,      // portable C++, the reference every SIMD path must match
#if defined(__aarch64__)
  kNeon = 1,        // Advanced SIMD (every AArch64 core)
  kNeonDot = 2,     // + the dot-product extension: SDOT / UDOT (Armv8.2+: Cortex-A55/A76 on)
#else
  kAvx2 = 1,        // AVX2 + FMA + F16C (Haswell, Zen 1)
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ (Skylake-X, Zen 4)
  kAvx512Vnni = 3,  // AVX-512 + VNNI (Cascade Lake, Ice Lake, Zen 4)
#endif
};
#if defined(__aarch64__)
constexpr int kNumIsaLevels = 3;
#else
constexpr int kNumIsaLevels = 4;
#endif

const char* isa_name(IsaLevel level);
// Accepts the names isa_name() returns; false for anything else.
bool parse_isa(const std::string& name, IsaLevel* level);
// True if the level's kernels were built into this binary.
bool isa_compiled(IsaLevel level);
// True if this CPU (and OS) can execute the level's instructions.
bool isa_supported(IsaLevel level);
// Compiled and supported, lowest first; always starts with kScalar.
std::vector<IsaLevel> available_isas();
IsaLevel best_isa();

}  // namespace fnn
