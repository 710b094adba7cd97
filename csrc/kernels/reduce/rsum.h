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

FNN_UKERNEL_SIG(RsumU8, U8Rsum);
FNN_UKERNEL_SIG(RsumF32, F32Rsum);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/reduce/rsum_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
