#include "kernels/conv/dwconv_config.h"

#include "cpu/dispatch.h"

namespace fnn {
namespace {

// Best kernel at or below `level`.
DwconvConfig make_config(IsaLevel level, bool /*features: none for this family*/) {
  DwconvConfig c;
  c.f32 = f32_dwconv_ukernel__scalar;
  c.f32_isa = "scalar";
  c.qu8 = qu8_dwconv_ukernel__scalar;
  c.qu8_isa = "scalar";
  const int l = static_cast<int>(level);
#ifdef FNN_BUILT_AVX2
  if (l >= static_cast<int>(IsaLevel::kAvx2)) {
    c.f32 = f32_dwconv_ukernel__avx2;
    c.f32_isa = "avx2";
    c.qu8 = qu8_dwconv_ukernel__avx2;
    c.qu8_isa = "avx2";
  }
#endif
#ifdef FNN_BUILT_AVX512
  if (l >= static_cast<int>(IsaLevel::kAvx512)) {
    c.f32 = f32_dwconv_ukernel__avx512;
    c.f32_isa = "avx512";
    c.qu8 = qu8_dwconv_ukernel__avx512;
    c.qu8_isa = "avx512";
  }
#endif
#ifdef FNN_BUILT_AVX512VNNI
  if (l >= static_cast<int>(IsaLevel::kAvx512Vnni)) {
    c.qu8 = qu8_dwconv_ukernel__avx512vnni;
    c.qu8_isa = "avx512vnni";
  }
#endif
  (void)l;
  return c;
}

}  // namespace

const DwconvConfig& dwconv_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
