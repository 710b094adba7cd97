#include "kernels/sparse/spmm_config.h"

#include "cpu/dispatch.h"
#include "cpu/isa.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

SpmmConfig make_config(IsaLevel level, bool features) {
  // Filling a table runs the ISA's own code (its translation unit may use its instructions
  // anywhere, plain stores included): never for a level this CPU lacks. Such a config is never
  // active (set_isa refuses the level); it keeps the best level the CPU has. The unclamped
  // original ran spmm_ukernels__avx512 on the first config build, and died of SIGILL on a CPU
  // without AVX-512 (seen under valgrind, which has none).
  if (static_cast<int>(level) > static_cast<int>(best_isa())) level = best_isa();
  SpmmConfig c;
  pick_ukernel<UkernelOp::kSpmmTable>(level, features)(&c.kernels);
  return c;
}

}  // namespace

const SpmmConfig& spmm_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
