#include "kernels/sparse/spmm_config.h"

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

SpmmConfig make_config(IsaLevel level, bool features) {
  SpmmConfig c;
  pick_ukernel<UkernelOp::kSpmmTable>(level, features, &c.isa)(&c.kernels);
  return c;
}

}  // namespace

const SpmmConfig& spmm_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
