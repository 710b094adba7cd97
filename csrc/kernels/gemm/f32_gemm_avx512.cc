// f32 GEMM micro-kernel, AVX-512: up to 12 rows x 16 columns, one zmm accumulator per row.
//
// Each k step loads one 64-byte panel row and issues one FMA per row with A broadcast from
// memory ({1to16}). Small tiles split K over S accumulator sets so that at least ~8 FMA chains
// are in flight (FMA latency 4 x 2 pipes); the sets are summed before the store.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/gemm/f32_gemm_tile_avx512.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct Row {
  using Elem = float;
  static constexpr size_t kRowsPerLine = 1;  // 16 floats = one 64-byte line
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};

}  // namespace

void f32_gemm_ukernel_12x16__avx512(size_t mr, size_t nc, size_t k, const float* a,
                                    size_t a_stride, const float* w, float* c, size_t c_stride,
                                    const GemmF32Params* params) {
  gemm_12x16<Row>(mr, nc, k, a, a_stride, w, c, c_stride, params);
}

}  // namespace fnn
