// The float-output GEMM micro-kernels of AVX2 + FMA + F16C: f32, f16 and bf16 weights, up to
// 6 rows x 16 columns, two ymm accumulators per row. 12 accumulators + 2 W + 1 broadcast =
// 15 of the 16 ymm registers. One tile body (f32_gemm_tile.h); the kernels differ only in
// how a W row becomes f32 (F32Rows, F16Rows, Bf16PairRows).
#include "kernels/gemm/f32_gemm_tile.h"
#include "kernels/common/vec16_avx2.h"
#include "kernels/gemm/gemm_ukernel_define.h"

namespace fnn {

FNN_GEMM_UKERNEL_DEFINE(f32_gemm_ukernel_6x16__avx2, float, float, float, GemmF32Params,
                        F32GemmTile<Avx2Vec16, F32Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_f16w_gemm_ukernel_6x16__avx2, float, uint16_t, float, GemmF32Params,
                        F32GemmTile<Avx2Vec16, F16Rows>)
FNN_GEMM_UKERNEL_DEFINE(f32_bf16w_gemm_ukernel_6x16__avx2, float, uint16_t, float, GemmF32Params,
                        F32GemmTile<Avx2Vec16, Bf16PairRows>)

}  // namespace fnn
