#include "kernels/quant/quant_config.h"

#include "cpu/dispatch.h"

namespace fnn {
namespace {

QuantConfig make_config(IsaLevel level, bool /*features: none for this family*/) {
  const int l = static_cast<int>(level);
  QuantConfig c{f32_minmax_ukernel__scalar, f32_qu8_ukernel__scalar, "scalar"};
#ifdef FNN_BUILT_AVX2
  if (l >= static_cast<int>(IsaLevel::kAvx2)) {
    c = QuantConfig{f32_minmax_ukernel__avx2, f32_qu8_ukernel__avx2, "avx2"};
  }
#endif
#ifdef FNN_BUILT_AVX512
  if (l >= static_cast<int>(IsaLevel::kAvx512)) {
    c = QuantConfig{f32_minmax_ukernel__avx512, f32_qu8_ukernel__avx512, "avx512"};
  }
#endif
  (void)l;
  return c;
}

}  // namespace

const QuantConfig& quant_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
