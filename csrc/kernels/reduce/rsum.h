// Whole-array sums: the smallest kernel family, kept to prove the dispatch ladder end to end
// and to give every ISA object library a real tenant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

// Exact sum of n bytes.
using U8Rsum = uint64_t(const uint8_t* x, size_t n);
using U8RsumFn = U8Rsum*;
// Sum of n floats, accumulated in f32 lanes; the order of additions is the kernel's own.
using F32Rsum = float(const float* x, size_t n);
using F32RsumFn = F32Rsum*;

template <> struct UkernelSig<UkernelOp::kRsumU8> : UkernelSigOf<U8Rsum> {};
template <> struct UkernelSig<UkernelOp::kRsumF32> : UkernelSigOf<F32Rsum> {};

#define FNN_UKERNEL(family, op, name, isa, rung, feature, mr, nr, kr) \
  UkernelSig<UkernelOp::k##op>::Type name;                              \
  constexpr UkernelTile name##_tile{mr, nr, kr};
#include "kernels/reduce/rsum_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
