#include "kernels/gemm/gemm_config.h"

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

template <UkernelOp Op>
GemmUkernel<typename UkernelSig<Op>::Fn> pick(IsaLevel level, bool features) {
  const UkernelInfo& u = best_ukernel(Op, level, features);
  GemmUkernel<typename UkernelSig<Op>::Fn> k;
  k.fn = ukernel_fn<Op>(u);
  k.mr = u.mr;
  k.panels = u.nr / kGemmNR;
  k.isa = u.isa;
  return k;
}

GemmConfig make_config(IsaLevel level, bool features) {
  GemmConfig c;
  c.f32 = pick<UkernelOp::kGemmF32>(level, features);
  c.f16w = pick<UkernelOp::kGemmF32F16w>(level, features);
  c.bf16w = pick<UkernelOp::kGemmF32Bf16w>(level, features);
  c.bf16 = pick<UkernelOp::kGemmBf16>(level, features);
  c.bf16_convert = pick<UkernelOp::kF32ToBf16>(level, features).fn;
  c.qu8 = pick<UkernelOp::kGemmQu8Qs8w>(level, features);
  return c;
}

}  // namespace

const GemmConfig& gemm_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
