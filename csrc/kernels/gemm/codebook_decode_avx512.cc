// AVX-512 decode: per-layer tables of up to 16 entries are one zmm, indexed by vpermps (one
// instruction per 16 weights); larger or per-channel tables are gathered.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/codebook_decode.h"
#include "kernels/gemm/dispatch_mr.h"

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

namespace {

// Two K steps per iteration (one 16-byte load holds both index rows), each into its own
// accumulator set so two FMA chains per row are in flight.
template <size_t MR>
void codebook4w_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint8_t* w,
                     const float* table, float* c, size_t c_stride, const GemmF32Params* p) {
  const __m512 t = _mm512_loadu_ps(table);
  const __mmask16 mask = static_cast<__mmask16>((1u << nc) - 1);
  __m512 acc0[MR], acc1[MR];
  for (size_t m = 0; m < MR; ++m) {
    acc0[m] = p->flags & kGemmAccumulate ? _mm512_maskz_loadu_ps(mask, c + m * c_stride)
              : p->bias != nullptr       ? _mm512_loadu_ps(p->bias)
                                         : _mm512_setzero_ps();
    acc1[m] = _mm512_setzero_ps();
  }
  const __m128i low = _mm_set1_epi8(0x0F);
  size_t kk = 0;
  for (; kk + 2 <= k; kk += 2) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kk * 8));
    const __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
    const __m512 w0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi64(lo, hi)), t);
    const __m512 w1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi64(lo, hi)), t);
    for (size_t m = 0; m < MR; ++m) {
      acc0[m] = _mm512_fmadd_ps(_mm512_set1_ps(a[m * a_stride + kk]), w0, acc0[m]);
      acc1[m] = _mm512_fmadd_ps(_mm512_set1_ps(a[m * a_stride + kk + 1]), w1, acc1[m]);
    }
  }
  if (kk < k) {
    const __m512 w0 = _mm512_permutexvar_ps(nibble_row(w + kk * 8), t);
    for (size_t m = 0; m < MR; ++m) acc0[m] = _mm512_fmadd_ps(_mm512_set1_ps(a[m * a_stride + kk]), w0, acc0[m]);
  }
  for (size_t m = 0; m < MR; ++m) {
    __m512 v = _mm512_add_ps(acc0[m], acc1[m]);
    if (p->flags & kGemmClamp) v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p->min)), _mm512_set1_ps(p->max));
    _mm512_mask_storeu_ps(c + m * c_stride, mask, v);
  }
}

}  // namespace

void f32_codebook4w_gemm_ukernel_4x16__avx512(size_t mr, size_t nc, size_t k, const float* a,
                                              size_t a_stride, const uint8_t* w, const float* table,
                                              float* c, size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4 && nc >= 1 && nc <= 16 && k >= 1);
  assert(a != nullptr && w != nullptr && table != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) {
    codebook4w_tile<decltype(rows)::value>(nc, k, a, a_stride, w, table, c, c_stride, params);
  });
}

}  // namespace fnn
