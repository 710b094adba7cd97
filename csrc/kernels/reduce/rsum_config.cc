#include "kernels/reduce/rsum_config.h"

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

RsumConfig make_config(IsaLevel level, bool features) {
  RsumConfig c;
  c.u8 = pick_ukernel<UkernelOp::kRsumU8>(level, features, &c.u8_isa);
  c.f32 = pick_ukernel<UkernelOp::kRsumF32>(level, features, &c.f32_isa);
  return c;
}

}  // namespace

const RsumConfig& rsum_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
