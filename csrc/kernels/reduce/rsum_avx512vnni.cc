#include <immintrin.h>

#include "kernels/reduce/rsum.h"

namespace fnn {
namespace {

// vpdpbusd adds at most 4 * 255 to an int32 lane per step; flushing to 64 bits every
// 2^20 steps keeps each lane below 2^30.
constexpr size_t kFlushSteps = size_t{1} << 20;

}  // namespace

uint64_t u8_rsum_ukernel__avx512vnni(const uint8_t* x, size_t n) {
  const __m512i ones = _mm512_set1_epi8(1);
  uint64_t total = 0;
  size_t i = 0;
  while (i < n) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    const size_t chunk_end = (n - i) / 64 > kFlushSteps ? i + 64 * kFlushSteps : n;
    for (; i + 128 <= chunk_end; i += 128) {
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(x + i), ones);
      acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(x + i + 64), ones);
    }
    for (; i < chunk_end; i += 64) {
      const size_t rem = chunk_end - i;
      const __mmask64 m = rem >= 64 ? ~__mmask64{0} : ((__mmask64{1} << rem) - 1);
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_maskz_loadu_epi8(m, x + i), ones);
    }
    // Lanes are non-negative and below 2^31: widen to 64 bits before the horizontal sum.
    const __m512i acc = _mm512_add_epi32(acc0, acc1);
    const __m512i lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(acc));
    const __m512i hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(acc, 1));
    total += static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi)));
  }
  return total;
}

}  // namespace fnn
