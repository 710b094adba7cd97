// The u8 add on AVX-512: 16 values a vector, the tail under a mask (no read or write past n).
// Bit-exact with qu8_vadd_minmax_ukernel__scalar: the same roundings in the same order.
#include <immintrin.h>

#include "kernels/common/opaque.h"
#include "kernels/eltwise/qu8_vadd.h"

namespace fnn {
namespace {

struct Consts {
  __m512i a_zp, b_zp;
  __m512 ra, rb, lo, hi;
};

// The clamped float sum of 16 values (masked-off lanes read as zero and are never stored).
__m512 sum16(const Consts& k, const uint8_t* a, const uint8_t* b, __mmask16 m) {
  const __m512i va = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, a));
  const __m512i vb = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, b));
  const __m512 fa = opaque(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(va, k.a_zp)), k.ra));
  const __m512 fb = opaque(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(vb, k.b_zp)), k.rb));
  // max / min return their second operand for a NaN, as the reference's selects do.
  return _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(fa, fb), k.lo), k.hi);
}

__mmask16 tail_mask(size_t rem) { return rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1); }

}  // namespace

void qu8_vadd_minmax_ukernel__avx512(size_t n, const uint8_t* a, const uint8_t* b, void* y,
                                     const QVaddParams* params) {
  const Consts k{_mm512_set1_epi32(params->a_zero_point), _mm512_set1_epi32(params->b_zero_point),
                 _mm512_set1_ps(params->a_mul),           _mm512_set1_ps(params->b_mul),
                 _mm512_set1_ps(params->lo),              _mm512_set1_ps(params->hi)};
  if (!params->out_u8) {
    auto* yf = static_cast<float*>(y);
    for (size_t i = 0; i < n; i += 16) {
      const __mmask16 m = tail_mask(n - i);
      _mm512_mask_storeu_ps(yf + i, m, sum16(k, a + i, b + i, m));
    }
    return;
  }
  const __m512i zp = _mm512_set1_epi32(params->out_zero_point);
  auto* yq = static_cast<uint8_t*>(y);
  // cvtps2dq rounds half to even (default MXCSR): round_half_even_small's result for the
  // clamped (small) values. The narrowing truncates, as the reference's cast does. Full
  // blocks narrow in a register and store 16 bytes: vpmovdb straight to memory under a mask
  // is several times slower on Zen 4, so only the tail takes it.
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(sum16(k, a + i, b + i, 0xFFFF)), zp);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(yq + i), _mm512_cvtepi32_epi8(q));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(sum16(k, a + i, b + i, m)), zp);
    _mm512_mask_cvtepi32_storeu_epi8(yq + i, m, q);
  }
}

}  // namespace fnn
