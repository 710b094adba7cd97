#include "kernels/conv/dwconv_config.h"

#include "cpu/dispatch.h"

namespace fnn {
namespace {

// Best kernel at or below `level` (avx512vnni runs the avx512 kernel: vpdpbusd needs four
// taps per lane, and a depthwise pixel has few taps per channel).
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
  (void)l;
  return c;
}

}  // namespace

const DwconvConfig& dwconv_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
