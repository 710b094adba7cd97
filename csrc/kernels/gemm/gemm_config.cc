#include "kernels/gemm/gemm_config.h"

#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"

namespace fnn {
namespace {

template <typename Fn>
GemmUkernel<Fn> uk(Fn fn, size_t mr, const char* isa) {
  GemmUkernel<Fn> u;
  u.fn = fn;
  u.mr = mr;
  u.isa = isa;
  return u;
}

GemmConfig make_config(IsaLevel level, bool features) {
  const int l = static_cast<int>(level);
  GemmConfig c;
  c.f32 = uk(f32_gemm_ukernel_4x16__scalar, 4, "scalar");
  c.f16w = uk(f32_f16w_gemm_ukernel_4x16__scalar, 4, "scalar");
  c.bf16w = uk(f32_bf16w_gemm_ukernel_4x16__scalar, 4, "scalar");
  c.bf16 = uk(bf16_gemm_ukernel_4x16c2__scalar, 4, "scalar");
  c.bf16_convert = f32_to_bf16_ukernel__scalar;
  c.qu8 = uk(qu8_qs8w_gemm_ukernel_4x16c4__scalar, 4, "scalar");
#ifdef FNN_BUILT_AVX2
  if (l >= static_cast<int>(IsaLevel::kAvx2)) {
    c.f32 = uk(f32_gemm_ukernel_6x16__avx2, 6, "avx2");
    c.f16w = uk(f32_f16w_gemm_ukernel_6x16__avx2, 6, "avx2");
    c.bf16w = uk(f32_bf16w_gemm_ukernel_6x16__avx2, 6, "avx2");
    c.qu8 = uk(qu8_qs8w_gemm_ukernel_4x16c4__avx2, 4, "avx2");
  }
#endif
#ifdef FNN_BUILT_AVX512
  if (l >= static_cast<int>(IsaLevel::kAvx512)) {
    c.f32 = uk(f32_gemm_ukernel_12x16__avx512, 12, "avx512");
    c.f16w = uk(f32_f16w_gemm_ukernel_12x16__avx512, 12, "avx512");
    c.bf16w = uk(f32_bf16w_gemm_ukernel_12x16__avx512, 12, "avx512");
    c.qu8 = uk(qu8_qs8w_gemm_ukernel_8x16c4__avx512, 8, "avx512");
  }
#endif
#ifdef FNN_BUILT_AVXVNNI
  // AVX-VNNI beats the exact 16-bit paths of the avx2 and avx512 rungs (measured 2.8x the
  // AVX2 kernel, 1.3x the AVX-512BW one); AVX512-VNNI, on the rung above, beats it.
  if (features && l >= static_cast<int>(IsaLevel::kAvx2) && cpu_features().avxvnni) {
    c.qu8 = uk(qu8_qs8w_gemm_ukernel_6x16c4__avxvnni, 6, "avxvnni");
  }
#endif
#ifdef FNN_BUILT_AVX512BF16
  // A feature on top of the avx512 rung, not a rung of its own.
  if (features && l >= static_cast<int>(IsaLevel::kAvx512) && cpu_features().avx512bf16) {
    c.bf16 = uk(bf16_gemm_ukernel_12x16c2__avx512bf16, 12, "avx512bf16");
    c.bf16_convert = f32_to_bf16_ukernel__avx512bf16;
  }
#endif
#ifdef FNN_BUILT_AVX512VNNI
  if (l >= static_cast<int>(IsaLevel::kAvx512Vnni)) {
    c.qu8 = uk(qu8_qs8w_gemm_ukernel_12x16c4__avx512vnni, 12, "avx512vnni");
  }
#endif
  return c;
}

}  // namespace

const GemmConfig& gemm_config() { return config_for_active_level(&make_config); }

}  // namespace fnn
