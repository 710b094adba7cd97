// opaque(v): v, through an empty asm the compiler cannot see into. It keeps GCC from fusing a
// product and the add after it into an FMA (it would under -ffp-contract=fast): the scalar
// references round after each, and the integer kernels' float output stages must match them
// bit for bit. Include only from SIMD translation units (anonymous namespace: each ISA keeps
// its own copy).
#pragma once

// The inline-asm constraint of a read-write vector register: "v" is any SSE / AVX register
// on x86, "w" any FP / SIMD register on AArch64.
#if defined(__aarch64__)
#define FNN_VREG "+w"
#else
#define FNN_VREG "+v"
#endif

namespace fnn {
namespace {

template <typename Reg>
Reg opaque(Reg v) {
  __asm__("" : FNN_VREG(v));
  return v;
}

}  // namespace
}  // namespace fnn
