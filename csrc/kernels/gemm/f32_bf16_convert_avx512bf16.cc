#include <immintrin.h>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {

// vcvtneps2bf16: round to nearest even, NaN kept NaN; denormal inputs become signed zero,
// which vdpbf16ps would read as zero anyway.
void f32_to_bf16_ukernel__avx512bf16(const float* x, size_t n, uint16_t* y) {
  for (size_t i = 0; i < n; i += 16) {
    const size_t rem = n - i;
    const __mmask16 m = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    _mm256_mask_storeu_epi16(y + i, m, reinterpret_cast<__m256i>(v));
  }
}

}  // namespace fnn
