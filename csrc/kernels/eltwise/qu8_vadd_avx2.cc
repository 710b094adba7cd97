// The u8 add on AVX2: 16 values an iteration (two vectors of 8); a tail below 16 goes through
// stack buffers, so nothing past n is read or written.
// Bit-exact with qu8_vadd_minmax_ukernel__scalar: the same roundings in the same order.
#include <immintrin.h>

#include <cstring>

#include "kernels/common/opaque.h"
#include "kernels/eltwise/qu8_vadd.h"

namespace fnn {
namespace {

struct Consts {
  __m256i a_zp, b_zp;
  __m256 ra, rb, lo, hi;
};

// The clamped float sum of 8 values whose u8 inputs are the low 8 bytes of a8 / b8.
__m256 sum8(const Consts& k, __m128i a8, __m128i b8) {
  const __m256i va = _mm256_cvtepu8_epi32(a8), vb = _mm256_cvtepu8_epi32(b8);
  const __m256 fa = opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(va, k.a_zp)), k.ra));
  const __m256 fb = opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(vb, k.b_zp)), k.rb));
  // max / min return their second operand for a NaN, as the reference's selects do.
  return _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(fa, fb), k.lo), k.hi);
}

// 16 outputs from 16 input bytes each.
void block16(const Consts& k, const uint8_t* a, const uint8_t* b, bool out_u8, __m256i zp, void* y) {
  const __m128i a16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
  const __m128i b16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
  const __m256 f0 = sum8(k, a16, b16);
  const __m256 f1 = sum8(k, _mm_unpackhi_epi64(a16, a16), _mm_unpackhi_epi64(b16, b16));
  if (!out_u8) {
    _mm256_storeu_ps(static_cast<float*>(y), f0);
    _mm256_storeu_ps(static_cast<float*>(y) + 8, f1);
    return;
  }
  // cvtps2dq rounds half to even (default MXCSR): round_half_even_small's result for the
  // clamped (small) values. The sums lie in [qmin, qmax] within [0, 255] (QVaddParams), so
  // the saturating packs are exact, as the reference's cast is.
  const __m256i q0 = _mm256_add_epi32(_mm256_cvtps_epi32(f0), zp);
  const __m256i q1 = _mm256_add_epi32(_mm256_cvtps_epi32(f1), zp);
  // packs works per 128-bit lane; the permute restores the order.
  const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
  const __m128i b8 = _mm_packus_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
  _mm_storeu_si128(static_cast<__m128i*>(y), b8);
}

}  // namespace

void qu8_vadd_minmax_ukernel__avx2(size_t n, const uint8_t* a, const uint8_t* b, void* y,
                                   const QVaddParams* params) {
  const Consts k{_mm256_set1_epi32(params->a_zero_point), _mm256_set1_epi32(params->b_zero_point),
                 _mm256_set1_ps(params->a_mul),           _mm256_set1_ps(params->b_mul),
                 _mm256_set1_ps(params->lo),              _mm256_set1_ps(params->hi)};
  const __m256i zp = _mm256_set1_epi32(params->out_zero_point);
  const bool out_u8 = params->out_u8;
  const size_t elem = out_u8 ? 1 : sizeof(float);
  auto* yb = static_cast<uint8_t*>(y);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) block16(k, a + i, b + i, out_u8, zp, yb + i * elem);
  if (i < n) {
    const size_t rem = n - i;
    alignas(16) uint8_t ta[16] = {}, tb[16] = {};
    alignas(32) uint8_t ty[16 * sizeof(float)];
    std::memcpy(ta, a + i, rem);
    std::memcpy(tb, b + i, rem);
    block16(k, ta, tb, out_u8, zp, ty);
    std::memcpy(yb + i * elem, ty, rem * elem);
  }
}

}  // namespace fnn
