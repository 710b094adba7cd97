#include "kernels/conv/dwconv_config.h"

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

DwconvConfig make_config(IsaLevel level, bool features) {
  DwconvConfig c;
  c.f32 = pick_ukernel<UkernelOp::kDwconvF32>(level, features, &c.f32_isa);
  c.qu8 = pick_ukernel<UkernelOp::kDwconvQu8>(level, features, &c.qu8_isa);
  return c;
}

}  // namespace

const DwconvConfig& dwconv_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
