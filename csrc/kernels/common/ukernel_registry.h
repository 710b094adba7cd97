// Every micro-kernel of this binary in one table, built from the families' lists
// (kernels/common/ukernel_info.h), and the one selection rule every family config uses.
// For the portable core and the bindings, never for ISA translation units.
#pragma once

#include <cstddef>

#include "cpu/dispatch.h"
#include "kernels/common/ukernel_info.h"

namespace fnn {

// Every family's list, in family order (rsum, gemm, quant, spmm, dwconv); entries of ISA
// libraries this binary was built without are left out.
UkernelList all_ukernels();

// Whether `u` can serve at a dispatch: its rung at or below `level`, and its feature (if
// any) on this CPU with feature kernels allowed.
bool ukernel_serves(const UkernelInfo& u, IsaLevel level, bool features);

// The last entry for `op` that serves at (level, features): every op has a scalar entry, so
// there always is one.
const UkernelInfo& best_ukernel(UkernelOp op, IsaLevel level, bool features);

// The op's name in the lists, without the k: "GemmF32", "SpmmTable".
const char* ukernel_op_name(UkernelOp op);

// The entry called `name`, or null.
const UkernelInfo* find_ukernel(const char* name);

// `u.fn` as its op's function pointer.
template <UkernelOp Op>
typename UkernelSig<Op>::Fn ukernel_fn(const UkernelInfo& u) {
  return reinterpret_cast<typename UkernelSig<Op>::Fn>(u.fn);
}

// The best kernel for Op at (level, features) as its function pointer; *isa, if given, gets
// its ISA name.
template <UkernelOp Op>
typename UkernelSig<Op>::Fn pick_ukernel(IsaLevel level, bool features,
                                         const char** isa = nullptr) {
  const UkernelInfo& u = best_ukernel(Op, level, features);
  if (isa != nullptr) *isa = u.isa;
  return ukernel_fn<Op>(u);
}

// The config of a family that is the best kernel per op and nothing else: Config is an
// aggregate of the ops' function pointers, in the order Ops names them, built once per
// dispatch (config_for_active_level).
template <typename Config, UkernelOp... Ops>
const Config& ukernels_for_active_level() {
  return config_for_active_level<Config>(
      +[](IsaLevel level, bool features) { return Config{pick_ukernel<Ops>(level, features)...}; });
}

}  // namespace fnn
