// The float-output GEMM micro-kernels in portable C++: f32, f16 and bf16 weights, up to 4 rows
// x 16 columns; one tile (f32_gemm_tile_scalar.h), one W row type each.
#include "kernels/gemm/f32_gemm_tile_scalar.h"
#include "kernels/gemm/gemm_ukernel_define.h"

namespace fnn {

FNN_GEMM_UKERNEL_DEFINE(f32_gemm_ukernel_4x16__scalar, float, float, float, GemmF32Params,
                        ScalarF32GemmTile<F32ScalarRow>)
FNN_GEMM_UKERNEL_DEFINE(f32_f16w_gemm_ukernel_4x16__scalar, float, uint16_t, float,
                        GemmF32Params, ScalarF32GemmTile<F16ScalarRow>)
FNN_GEMM_UKERNEL_DEFINE(f32_bf16w_gemm_ukernel_4x16__scalar, float, uint16_t, float,
                        GemmF32Params, ScalarF32GemmTile<Bf16PairScalarRow>)

}  // namespace fnn
