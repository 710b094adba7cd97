// The float-output GEMM micro-kernels of AVX-512: f32, f16 and bf16 weights, up to 12 rows x
// 32 columns (two panels: 24 zmm accumulators, each A broadcast ({1to16}) feeding two W
// registers), or one panel when the call has 16 columns or fewer. One tile body
// (f32_gemm_tile.h); the kernels differ only in how a W row becomes f32 (F32Rows, F16Rows,
// Bf16PairRows).
#include "kernels/gemm/f32_gemm_tile.h"
#include "kernels/common/vec16_avx512.h"
#include "kernels/gemm/gemm_ukernel_define.h"

namespace fnn {

FNN_GEMM_UKERNEL_DEFINE(f32_gemm_ukernel_12x32__avx512, float, float, float, GemmF32Params,
                        F32GemmTile2<Avx512Vec16, F32Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_f16w_gemm_ukernel_12x32__avx512, float, uint16_t, float,
                        GemmF32Params, F32GemmTile2<Avx512Vec16, F16Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_bf16w_gemm_ukernel_12x32__avx512, float, uint16_t, float,
                        GemmF32Params, F32GemmTile2<Avx512Vec16, Bf16PairRows>)

}  // namespace fnn
