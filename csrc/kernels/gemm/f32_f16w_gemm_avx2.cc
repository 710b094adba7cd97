// f32 A x f16 W GEMM micro-kernel, AVX2 + FMA + F16C: up to 6 rows x 16 columns, two ymm
// accumulators per row.
//
// Each k step converts one 32-byte panel row with vcvtph2ps (exact for every half incl.
// subnormals, inf and NaN) and issues two FMAs per row with A broadcast from memory.
// 12 accumulators + 2 W + 1 broadcast = 15 of the 16 ymm registers.
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
  using Elem = uint16_t;
  static constexpr size_t kRowsPerLine = 2;  // 16 halves = half a 64-byte line
  // 8 halves -> 8 floats.
  static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

}  // namespace

void f32_f16w_gemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t k, const float* a,
                                      size_t a_stride, const uint16_t* w, float* c, size_t c_stride,
                                      const GemmF32Params* params) {
  gemm_6x16<Row>(mr, nc, k, a, a_stride, w, c, c_stride, params);
}

}  // namespace fnn
