#include "kernels/sparse/spmm_config.h"

#include "cpu/dispatch.h"

namespace fnn {
namespace {

SpmmConfig make_config(IsaLevel level, bool /*features*/) {
  const int l = static_cast<int>(level);
  SpmmConfig c;
  spmm_ukernels__scalar(&c.kernels);
  c.isa = "scalar";
#ifdef FNN_BUILT_AVX2
  if (l >= static_cast<int>(IsaLevel::kAvx2)) {
    spmm_ukernels__avx2(&c.kernels);
    c.isa = "avx2";
  }
#endif
#ifdef FNN_BUILT_AVX512
  if (l >= static_cast<int>(IsaLevel::kAvx512)) {
    spmm_ukernels__avx512(&c.kernels);
    c.isa = "avx512";
  }
#endif
  (void)l;
  return c;
}

}  // namespace

const SpmmConfig& spmm_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
