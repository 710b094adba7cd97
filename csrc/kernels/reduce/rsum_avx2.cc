#include <immintrin.h>

#include "kernels/reduce/rsum.h"

namespace fnn {
namespace {

uint64_t hsum_epi64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(s)) +
         static_cast<uint64_t>(_mm_extract_epi64(s, 1));
}

}  // namespace

uint64_t u8_rsum_ukernel__avx2(const uint8_t* x, size_t n) {
  // vpsadbw against zero sums 8 bytes into a 64-bit lane: exact, no overflow for any n.
  const __m256i zero = _mm256_setzero_si256();
  __m256i acc0 = zero, acc1 = zero;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 32));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(v0, zero));
    acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(v1, zero));
  }
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(v, zero));
  }
  uint64_t total = hsum_epi64(_mm256_add_epi64(acc0, acc1));
  for (; i < n; ++i) total += x[i];
  return total;
}

float f32_rsum_ukernel__avx2(const float* x, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
    acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
  if (i < n) {
    // Masked load: never touches bytes past the end of x.
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)), idx);
    acc1 = _mm256_add_ps(acc1, _mm256_maskload_ps(x + i, mask));
  }
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace fnn
