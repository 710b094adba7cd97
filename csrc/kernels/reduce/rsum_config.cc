#include "kernels/reduce/rsum_config.h"

#include <array>

#include "cpu/dispatch.h"

namespace fnn {
namespace {

// Best kernel at or below `level`; rungs not built into this binary are skipped.
RsumConfig make_config(IsaLevel level) {
  RsumConfig c;
  c.u8 = u8_rsum_ukernel__scalar;
  c.u8_isa = "scalar";
  c.f32 = f32_rsum_ukernel__scalar;
  c.f32_isa = "scalar";
  const int l = static_cast<int>(level);
#ifdef FNN_BUILT_AVX2
  if (l >= static_cast<int>(IsaLevel::kAvx2)) {
    c.u8 = u8_rsum_ukernel__avx2;
    c.u8_isa = "avx2";
    c.f32 = f32_rsum_ukernel__avx2;
    c.f32_isa = "avx2";
  }
#endif
#ifdef FNN_BUILT_AVX512
  if (l >= static_cast<int>(IsaLevel::kAvx512)) {
    c.u8 = u8_rsum_ukernel__avx512;
    c.u8_isa = "avx512";
    c.f32 = f32_rsum_ukernel__avx512;
    c.f32_isa = "avx512";
  }
#endif
#ifdef FNN_BUILT_AVX512VNNI
  if (l >= static_cast<int>(IsaLevel::kAvx512Vnni)) {
    c.u8 = u8_rsum_ukernel__avx512vnni;
    c.u8_isa = "avx512vnni";
  }
#endif
  return c;
}

}  // namespace

const RsumConfig& rsum_config() {
  static const std::array<RsumConfig, kNumIsaLevels> configs = [] {
    std::array<RsumConfig, kNumIsaLevels> a;
    for (int i = 0; i < kNumIsaLevels; ++i) a[i] = make_config(static_cast<IsaLevel>(i));
    return a;
  }();
  return configs[static_cast<int>(active_isa())];
}

}  // namespace fnn
