#include "kernels/common/ukernel_registry.h"

#include <cassert>
#include <cstring>

#include "cpu/cpu_features.h"
#include "kernels/conv/dwconv_ukernels.h"
#include "kernels/eltwise/qu8_vadd.h"
#include "kernels/eltwise/softmax_f32.h"
#include "kernels/eltwise/unary_f32.h"
#include "kernels/gemm/codebook_decode.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/quant/quant.h"
#include "kernels/optim/adam.h"
#include "kernels/reduce/rsum.h"
#include "kernels/sparse/spmm_ukernels.h"

namespace fnn {
namespace {

#define FNN_IF_BUILT_scalar(...) __VA_ARGS__
#ifdef FNN_BUILT_AVX2
#define FNN_IF_BUILT_avx2(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_avx2(...)
#endif
#ifdef FNN_BUILT_AVX512
#define FNN_IF_BUILT_avx512(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_avx512(...)
#endif
#ifdef FNN_BUILT_AVX512VNNI
#define FNN_IF_BUILT_avx512vnni(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_avx512vnni(...)
#endif
#ifdef FNN_BUILT_AVX512BF16
#define FNN_IF_BUILT_avx512bf16(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_avx512bf16(...)
#endif
#ifdef FNN_BUILT_AVXVNNI
#define FNN_IF_BUILT_avxvnni(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_avxvnni(...)
#endif
#ifdef FNN_BUILT_NEON
#define FNN_IF_BUILT_neon(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_neon(...)
#endif
#ifdef FNN_BUILT_NEONDOT
#define FNN_IF_BUILT_neondot(...) __VA_ARGS__
#else
#define FNN_IF_BUILT_neondot(...)
#endif

// The static_cast checks at compile time that `name` has its op's signature.
#define FNN_UKERNEL(family, op, name, isa, rung, feature, mr, nr, kr)                        \
  FNN_IF_BUILT_##isa(UkernelInfo{                                                           \
      #family, UkernelOp::k##op, #name, #isa, IsaLevel::rung, UkernelFeature::feature, mr, nr, \
      kr, reinterpret_cast<void (*)()>(static_cast<UkernelSig<UkernelOp::k##op>::Fn>(&name))}, )

const UkernelInfo kUkernels[] = {
#include "kernels/reduce/rsum_ukernels.inc"
#include "kernels/gemm/gemm_ukernels.inc"
#include "kernels/quant/quant_ukernels.inc"
#include "kernels/sparse/spmm_ukernels.inc"
#include "kernels/conv/dwconv_ukernels.inc"
#include "kernels/optim/adam_ukernels.inc"
#include "kernels/gemm/codebook_ukernels.inc"
#include "kernels/eltwise/unary_ukernels.inc"
#include "kernels/eltwise/qu8_vadd_ukernels.inc"
#include "kernels/eltwise/softmax_f32_ukernels.inc"
};

#undef FNN_UKERNEL

// In UkernelOp order.
constexpr const char* kOpNames[] = {"GemmF32",     "GemmF32F16w", "GemmF32Bf16w", "GemmBf16",
                                    "F32ToBf16",   "GemmQu8Qs8w", "DwconvF32",    "DwconvQu8",
                                    "RsumU8",      "RsumF32",     "F32Minmax",    "F32Qu8",
                                    "SpmmTable",   "F32Adam",     "F32CodebookDecode", "GemmF32Codebook4w",
                                    "UnaryF32",    "VaddQu8",     "SoftmaxF32"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == kNumUkernelOps,
              "one name per UkernelOp");
static_assert(static_cast<int>(UkernelOp::kSoftmaxF32) + 1 == kNumUkernelOps,
              "kNumUkernelOps counts UkernelOp");

}  // namespace

UkernelList all_ukernels() { return UkernelList{kUkernels, sizeof(kUkernels) / sizeof(kUkernels[0])}; }

bool ukernel_serves(const UkernelInfo& u, IsaLevel level, bool features) {
  if (static_cast<int>(u.rung) > static_cast<int>(level)) return false;
  switch (u.feature) {
    case UkernelFeature::kNone:
      return true;
    case UkernelFeature::kAvxVnni:
      return features && cpu_features().avxvnni;
    case UkernelFeature::kAvx512Bf16:
      return features && cpu_features().avx512bf16;
  }
  return false;
}

const UkernelInfo& best_ukernel(UkernelOp op, IsaLevel level, bool features) {
  const UkernelInfo* best = nullptr;
  for (const UkernelInfo& u : kUkernels) {
    if (u.op == op && ukernel_serves(u, level, features)) best = &u;
  }
  assert(best != nullptr && "every op has a scalar kernel");
  return *best;
}

const char* ukernel_op_name(UkernelOp op) { return kOpNames[static_cast<int>(op)]; }

const UkernelInfo* find_ukernel(const char* name) {
  for (const UkernelInfo& u : kUkernels) {
    if (std::strcmp(u.name, name) == 0) return &u;
  }
  return nullptr;
}

}  // namespace fnn
