// f32 GEMM micro-kernel, AVX2 + FMA: up to 6 rows x 16 columns, two ymm accumulators per row.
//
// Each k step loads one 64-byte panel row (two ymm) and issues two FMAs per row with A
// broadcast from memory. 12 accumulators + 2 W + 1 broadcast = 15 of the 16 ymm registers.
// Small tiles split K over S accumulator sets so that at least ~8 FMA chains are in flight
// (FMA latency 4 x 2 pipes); the sets are summed before the store.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/gemm/f32_gemm_tile_avx2.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct Row {
  using Elem = float;
  static constexpr size_t kRowsPerLine = 1;  // 16 floats = one 64-byte line
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};

}  // namespace

void f32_gemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t k, const float* a,
                                 size_t a_stride, const float* w, float* c, size_t c_stride,
                                 const GemmF32Params* params) {
  gemm_6x16<Row>(mr, nc, k, a, a_stride, w, c, c_stride, params);
}

}  // namespace fnn
