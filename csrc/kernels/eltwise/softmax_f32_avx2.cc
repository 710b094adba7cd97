// The f32 softmax micro-kernel of avx2: softmax_f32_simd.h over 8-lane vectors.
#include <immintrin.h>

#include "kernels/eltwise/softmax_f32.h"
#include "kernels/eltwise/softmax_f32_simd.h"

namespace fnn {
namespace {

struct Avx2Softmax {
  using Reg = __m256;
  struct DAcc {
    __m256d lo, hi;
  };
  static constexpr size_t kLanes = 8;
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg exp2i(Reg p, Reg n) {
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  }
  static Reg keep_not_less(Reg t, Reg lo, Reg y) { return _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_NLT_UQ), y); }
  static DAcc dzero() { return DAcc{_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static void dadd(DAcc& a, Reg v) {
    a.lo = _mm256_add_pd(a.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a.hi = _mm256_add_pd(a.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  static double dsum(const DAcc& a) {
    alignas(32) double d[8];
    _mm256_store_pd(d, a.lo);
    _mm256_store_pd(d + 4, a.hi);
    double s = 0.0;
    for (size_t l = 0; l < 8; ++l) s += d[l];
    return s;
  }
};

}  // namespace

void f32_softmax_ukernel__avx2(size_t rows, size_t cols, const float* x, float* y) {
  softmax_f32_simd<Avx2Softmax>(rows, cols, x, y);
}

}  // namespace fnn
