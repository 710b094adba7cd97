// AVX-512 decode: per-layer tables of up to 16 entries are one zmm, indexed by vpermps (one
// instruction per 16 weights); larger or per-channel tables are gathered.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/codebook_decode.h"

namespace fnn {
namespace {

// The 16 column indices of one 4-bit row (8 bytes), as dwords in column order.
inline __m512i nibble_row(const uint8_t* p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(b, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(lo, hi));
}

inline __m512i byte_row(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

void f32_codebook_decode_ukernel_x16__avx512(size_t rows, uint32_t bits, bool per_channel,
                                             const uint8_t* idx, const float* tables, float* out) {
  assert(bits >= 2 && bits <= 8);
  assert(idx != nullptr && tables != nullptr && out != nullptr);
  if (bits <= 4 && !per_channel) {
    const __m512 table = _mm512_loadu_ps(tables);
    for (size_t r = 0; r < rows; ++r) {
      _mm512_storeu_ps(out + r * 16, _mm512_permutexvar_ps(nibble_row(idx + r * 8), table));
    }
    return;
  }
  // Column j reads its own table: offset j * 2^bits (0 for a per-layer table).
  const __m512i base = per_channel
                           ? _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                               static_cast<int>(bits))
                           : _mm512_setzero_si512();
  for (size_t r = 0; r < rows; ++r) {
    const __m512i i = bits <= 4 ? nibble_row(idx + r * 8) : byte_row(idx + r * 16);
    _mm512_storeu_ps(out + r * 16, _mm512_i32gather_ps(_mm512_add_epi32(i, base), tables, 4));
  }
}

}  // namespace fnn
