#include "kernels/reduce/rsum_config.h"

#include "cpu/dispatch.h"

namespace fnn {
namespace {

// Best kernel at or below `level`; rungs not built into this binary are skipped.
RsumConfig make_config(IsaLevel level, bool /*features: none for this family*/) {
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

const RsumConfig& rsum_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
