// The f32 softmax micro-kernel of avx512: softmax_f32_simd.h over 16-lane vectors.
#include <immintrin.h>

#include "kernels/eltwise/softmax_f32.h"
#include "kernels/eltwise/softmax_f32_simd.h"

namespace fnn {
namespace {

struct Avx512Softmax {
  using Reg = __m512;
  struct DAcc {
    __m512d lo, hi;
  };
  static constexpr size_t kLanes = 16;
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg exp2i(Reg p, Reg n) {
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
  }
  static Reg keep_not_less(Reg t, Reg lo, Reg y) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, lo, _CMP_NLT_UQ), y);
  }
  static DAcc dzero() { return DAcc{_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  static void dadd(DAcc& a, Reg v) {
    a.lo = _mm512_add_pd(a.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    a.hi = _mm512_add_pd(a.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  static double dsum(const DAcc& a) {
    alignas(64) double d[16];
    _mm512_store_pd(d, a.lo);
    _mm512_store_pd(d + 8, a.hi);
    double s = 0.0;
    for (size_t l = 0; l < 16; ++l) s += d[l];
    return s;
  }
};

}  // namespace

void f32_softmax_ukernel__avx512(size_t rows, size_t cols, const float* x, float* y) {
  softmax_f32_simd<Avx512Softmax>(rows, cols, x, y);
}

}  // namespace fnn
