// f32 A x f16 W GEMM micro-kernel, AVX-512: up to 12 rows x 16 columns, one zmm accumulator
// per row.
//
// Each k step converts one 32-byte panel row with vcvtph2ps (F16C, exact for every half incl.
// subnormals, inf and NaN) and issues one FMA per row with A broadcast from memory ({1to16}).
// Small tiles split K over S accumulator sets so that at least ~8 FMA chains are in flight
// (FMA latency 4 x 2 pipes); the sets are summed before the store.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/gemm/f32_gemm_tile_avx512.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

struct Row {
  using Elem = uint16_t;
  static constexpr size_t kRowsPerLine = 2;  // 16 halves = half a 64-byte line
  // 16 halves -> 16 floats.
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

}  // namespace

void f32_f16w_gemm_ukernel_12x16__avx512(size_t mr, size_t nc, size_t k, const float* a,
                                         size_t a_stride, const uint16_t* w, float* c, size_t c_stride,
                                         const GemmF32Params* params) {
  gemm_12x16<Row>(mr, nc, k, a, a_stride, w, c, c_stride, params);
}

}  // namespace fnn
