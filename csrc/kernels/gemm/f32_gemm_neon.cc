// The float-output GEMM micro-kernels of AArch64 Advanced SIMD: f32, f16 and bf16 weights, up
// to 4 rows x 16 columns, four q-register accumulators per row. Per 4 k: one load of each
// row's 4 A values, and FMLA by element: 16 accumulators + 4 W + 4 A = 24 of the 32 registers.
// (6 rows would need 34: their spills cost more than the taller tile saves.) One tile body
// (f32_gemm_tile.h), as on x86.
#include "kernels/gemm/f32_gemm_tile.h"
#include "kernels/common/vec16_neon.h"
#include "kernels/gemm/gemm_ukernel_define.h"

namespace fnn {

FNN_GEMM_UKERNEL_DEFINE(f32_gemm_ukernel_4x16__neon, float, float, float, GemmF32Params,
                        F32GemmTile<NeonVec16, F32Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_f16w_gemm_ukernel_4x16__neon, float, uint16_t, float, GemmF32Params,
                        F32GemmTile<NeonVec16, F16Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_bf16w_gemm_ukernel_4x16__neon, float, uint16_t, float, GemmF32Params,
                        F32GemmTile<NeonVec16, Bf16PairRows>)

}  // namespace fnn
