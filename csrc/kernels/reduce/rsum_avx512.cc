#include <immintrin.h>

#include "kernels/reduce/rsum.h"

namespace fnn {

uint64_t u8_rsum_ukernel__avx512(const uint8_t* x, size_t n) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc0 = zero, acc1 = zero;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(_mm512_loadu_si512(x + i), zero));
    acc1 = _mm512_add_epi64(acc1, _mm512_sad_epu8(_mm512_loadu_si512(x + i + 64), zero));
  }
  for (; i < n; i += 64) {
    const size_t rem = n - i;
    const __mmask64 m = rem >= 64 ? ~__mmask64{0} : ((__mmask64{1} << rem) - 1);
    acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(m, x + i), zero));
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(acc0, acc1)));
}

float f32_rsum_ukernel__avx512(const float* x, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(x + i));
    acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) {
    const size_t rem = n - i;
    const __mmask16 m = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
    acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps(m, x + i));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace fnn
