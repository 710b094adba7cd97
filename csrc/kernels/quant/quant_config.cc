#include "kernels/quant/quant_config.h"

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

QuantConfig make_config(IsaLevel level, bool features) {
  QuantConfig c;
  c.minmax = pick_ukernel<UkernelOp::kF32Minmax>(level, features, &c.isa);
  c.qu8 = pick_ukernel<UkernelOp::kF32Qu8>(level, features);
  return c;
}

}  // namespace

const QuantConfig& quant_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
