// AVX2 decode: a per-layer table of up to 16 entries is two ymm halves, each indexed by
// vpermps, the right one picked per lane by index bit 3 (blendv on that bit moved to the sign);
// larger or per-channel tables are gathered.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/codebook_decode.h"

namespace fnn {
namespace {

// Columns 0..7 and 8..15 of one 4-bit row (8 bytes), as dwords.
inline void nibble_row(const uint8_t* p, __m256i* i0, __m256i* i1) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0F);
  *i0 = _mm256_cvtepu8_epi32(_mm_and_si128(b, mask));
  *i1 = _mm256_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), mask));
}

inline void byte_row(const uint8_t* p, __m256i* i0, __m256i* i1) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  *i0 = _mm256_cvtepu8_epi32(b);
  *i1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(b, b));
}

inline __m256 lookup16(__m256i i, __m256 lo, __m256 hi) {
  const __m256 from_lo = _mm256_permutevar8x32_ps(lo, i);
  const __m256 from_hi = _mm256_permutevar8x32_ps(hi, i);
  return _mm256_blendv_ps(from_lo, from_hi, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
}

}  // namespace

void f32_codebook_decode_ukernel_x16__avx2(size_t rows, uint32_t bits, bool per_channel,
                                           const uint8_t* idx, const float* tables, float* out) {
  assert(bits >= 2 && bits <= 8);
  assert(idx != nullptr && tables != nullptr && out != nullptr);
  __m256i i0, i1;
  if (bits <= 4 && !per_channel) {
    const __m256 lo = _mm256_loadu_ps(tables), hi = _mm256_loadu_ps(tables + 8);
    for (size_t r = 0; r < rows; ++r) {
      nibble_row(idx + r * 8, &i0, &i1);
      _mm256_storeu_ps(out + r * 16, lookup16(i0, lo, hi));
      _mm256_storeu_ps(out + r * 16 + 8, lookup16(i1, lo, hi));
    }
    return;
  }
  const int shift = static_cast<int>(bits);
  const __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256i base0 = per_channel ? _mm256_slli_epi32(lanes, shift) : _mm256_setzero_si256();
  const __m256i base1 =
      per_channel ? _mm256_slli_epi32(_mm256_add_epi32(lanes, _mm256_set1_epi32(8)), shift) : _mm256_setzero_si256();
  for (size_t r = 0; r < rows; ++r) {
    if (bits <= 4) {
      nibble_row(idx + r * 8, &i0, &i1);
    } else {
      byte_row(idx + r * 16, &i0, &i1);
    }
    _mm256_storeu_ps(out + r * 16, _mm256_i32gather_ps(tables, _mm256_add_epi32(i0, base0), 4));
    _mm256_storeu_ps(out + r * 16 + 8, _mm256_i32gather_ps(tables, _mm256_add_epi32(i1, base1), 4));
  }
}

}  // namespace fnn
