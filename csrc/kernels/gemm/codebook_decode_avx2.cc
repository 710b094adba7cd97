// AVX2 decode: a per-layer table of up to 16 entries is two ymm halves, each indexed by
// vpermps, the right one picked per lane by index bit 3 (blendv on that bit moved to the sign);
// larger or per-channel tables are gathered.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/codebook_decode.h"
#include "kernels/gemm/dispatch_mr.h"

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

namespace {

// One K step per iteration: two permute pairs give the row's 16 weights, then two FMAs a row.
template <size_t MR>
void codebook4w_tile(size_t nc, size_t k, const float* a, size_t a_stride, const uint8_t* w,
                     const float* table, float* c, size_t c_stride, const GemmF32Params* p) {
  const __m256 tlo = _mm256_loadu_ps(table), thi = _mm256_loadu_ps(table + 8);
  const __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nc)), lanes);
  const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nc) - 8), lanes);
  __m256 acc[MR][2];
  for (size_t m = 0; m < MR; ++m) {
    if (p->flags & kGemmAccumulate) {
      acc[m][0] = _mm256_maskload_ps(c + m * c_stride, mask0);
      acc[m][1] = _mm256_maskload_ps(c + m * c_stride + 8, mask1);
    } else if (p->bias != nullptr) {
      acc[m][0] = _mm256_loadu_ps(p->bias);
      acc[m][1] = _mm256_loadu_ps(p->bias + 8);
    } else {
      acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    }
  }
  __m256i i0, i1;
  for (size_t kk = 0; kk < k; ++kk) {
    nibble_row(w + kk * 8, &i0, &i1);
    const __m256 w0 = lookup16(i0, tlo, thi), w1 = lookup16(i1, tlo, thi);
    for (size_t m = 0; m < MR; ++m) {
      const __m256 va = _mm256_broadcast_ss(a + m * a_stride + kk);
      acc[m][0] = _mm256_fmadd_ps(va, w0, acc[m][0]);
      acc[m][1] = _mm256_fmadd_ps(va, w1, acc[m][1]);
    }
  }
  for (size_t m = 0; m < MR; ++m) {
    for (size_t h = 0; h < 2; ++h) {
      __m256 v = acc[m][h];
      if (p->flags & kGemmClamp) v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p->min)), _mm256_set1_ps(p->max));
      _mm256_maskstore_ps(c + m * c_stride + 8 * h, h == 0 ? mask0 : mask1, v);
    }
  }
}

}  // namespace

void f32_codebook4w_gemm_ukernel_4x16__avx2(size_t mr, size_t nc, size_t k, const float* a,
                                            size_t a_stride, const uint8_t* w, const float* table,
                                            float* c, size_t c_stride, const GemmF32Params* params) {
  assert(mr >= 1 && mr <= 4 && nc >= 1 && nc <= 16 && k >= 1);
  assert(a != nullptr && w != nullptr && table != nullptr && c != nullptr && params != nullptr);
  dispatch_mr<4>(mr, [&](auto rows) {
    codebook4w_tile<decltype(rows)::value>(nc, k, a, a_stride, w, table, c, c_stride, params);
  });
}

}  // namespace fnn
