// Micro-kernel lists: one X-macro list per kernel family, written once.
//
// Each family keeps <family>_ukernels.inc with one line per micro-kernel:
//
//   FNN_UKERNEL(family, op, name, isa, rung, feature, mr, nr, kr)
//     family   the runtime_info()["kernels"] key the kernel serves (gemm_f32, spmm, ...)
//     op       its signature, an UkernelOp without the k (GemmF32, RsumU8, ...); a family can
//              need several ops (quantize_f32_qu8: F32Minmax and F32Qu8), its first is the one
//              runtime_info reports
//     name     the function
//     isa      the object library it is compiled in (cmake/sources.cmake), also the name
//              runtime_info reports: a rung, or a feature off the ladder (avxvnni, avx512bf16)
//     rung     the lowest IsaLevel (k...) it runs on
//     feature  a CPU feature off the ladder it also needs (UkernelFeature, k...), or kNone
//     mr nr kr tile rows, columns and K group; 0 where the op has none
//
// The list generates the declarations (the family header expands it with
// FNN_UKERNEL_DECLARE: `UkernelSig<op>::Type name;` and the tile constant `name_tile`, which
// the kernel's own translation unit uses as its compile-time tile, so list and kernel cannot
// disagree), the registry every family config picks from (ukernel_registry.cc),
// runtime_info()["kernels"] and the micro-kernel tester's catalogue (bindings/bind_ukernels.cc,
// tests/kernels/test_ukernels.py, which sweeps every entry without naming any).
//
// Selection: for an op at a dispatch (level, feature kernels on / off), the LAST entry of the
// list that can run there wins, so each op's entries go from worst to best.
//
// Only types and macros here: ISA translation units include this header through the family
// headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/isa.h"

namespace fnn {

// Every micro-kernel signature, across families.
enum class UkernelOp : int {
  kGemmF32,      // F32GemmUkernelFn
  kGemmF32F16w,  // F32F16wGemmUkernelFn
  kGemmF32Bf16w, // F32Bf16wGemmUkernelFn
  kGemmBf16,     // Bf16GemmUkernelFn
  kF32ToBf16,    // F32ToBf16Fn
  kGemmQu8Qs8w,  // QGemmUkernelFn
  kDwconvF32,    // F32DwUkernelFn
  kDwconvQu8,    // QDwUkernelFn
  kRsumU8,       // U8RsumFn
  kRsumF32,      // F32RsumFn
  kF32Minmax,    // F32MinmaxFn
  kF32Qu8,       // F32Qu8Fn
  kSpmmTable,    // SpmmTableFn: fills one ISA's SpMM / SpMV table
  kF32Adam,      // F32AdamFn
  kF32CodebookDecode,  // F32CodebookDecodeFn
  kGemmF32Codebook4w,  // F32Codebook4wGemmUkernelFn
  kUnaryF32,     // UnaryF32Fn
  kVaddQu8,      // VaddQu8Fn
  kSoftmaxF32,   // SoftmaxF32Fn
};
constexpr int kNumUkernelOps = 19;

// CPU features off the ladder that gate a kernel on top of its rung.
enum class UkernelFeature : int { kNone, kAvxVnni, kAvx512Bf16 };

// A function type per op: UkernelSig<op>::Type (a function type, for declarations) and
// ::Fn (its pointer). Each family header specializes it for its ops, from UkernelSigOf.
template <UkernelOp Op>
struct UkernelSig;
template <typename T>
struct UkernelSigOf {
  using Type = T;
  using Fn = T*;
};

// `template <> struct UkernelSig<UkernelOp::kOp> ...` for one op, in its family header.
#define FNN_UKERNEL_SIG(op, Type) \
  template <>                     \
  struct UkernelSig<UkernelOp::k##op> : UkernelSigOf<Type> {}

// A list line as a declaration and the kernel's tile constant. Family headers expand their
// list with it:  #define FNN_UKERNEL FNN_UKERNEL_DECLARE / #include the .inc / #undef.
#define FNN_UKERNEL_DECLARE(family, op, name, isa, rung, feature, mr, nr, kr) \
  UkernelSig<UkernelOp::k##op>::Type name;                                   \
  constexpr UkernelTile name##_tile{mr, nr, kr};

// One line of a list.
struct UkernelInfo {
  const char* family;
  UkernelOp op;
  const char* name;
  const char* isa;
  IsaLevel rung;
  UkernelFeature feature;
  size_t mr, nr, kr;
  void (*fn)();  // the function, type-erased; ukernel_fn<op> casts it back
};

// A family's list as built into this binary.
struct UkernelList {
  const UkernelInfo* begin;
  size_t size;
};

// A list's tile numbers, as a compile-time constant per kernel (`name_tile`).
struct UkernelTile {
  size_t mr, nr, kr;
};

}  // namespace fnn
