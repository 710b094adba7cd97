// The row softmax of the SIMD levels, as a template over a vector type V (the ISA translation
// unit defines it): the algorithm of softmax_f32_body.h with explicit vectors, since GCC
// leaves that body's max and sum passes scalar. Per row: a lane-wise max; exp(x - max) with
// the TwoSum correction, stored, and summed in double lanes; a scale by 1 / sum.
// Tails (cols not a multiple of the lanes) go through a stack buffer padded with -inf, whose
// pad lanes give exp 0 (adding +0 leaves a double sum unchanged) and are never stored.
//
// exp is exp_f32's Cephes reduction and polynomial, written for t = x - max <= 0 (or NaN):
// no overflow branch; t below -87.3365 gives 0 (as exp_f32), and a NaN runs through the
// polynomial to a NaN (the reductions keep NaN where exp_f32's clamp would lose it).
//
// V provides: Reg, DAcc (double accumulators of one Reg's values), kLanes, load, store, set1,
// add, sub, mul, fmadd (a * b + c), fnmadd (c - a * b), max (second operand on NaN), the
// float -> int32 truncation and the int32 ops of the 2^n scaling (exp2i), keep_not_less
// (t < lo, ordered, gives 0; else y), dzero / dadd (accumulate a Reg in double) / dsum.
// Include only from ISA translation units; everything is in an anonymous namespace.
#pragma once

#include <cstddef>
#include <cstring>

namespace fnn {
namespace {

template <typename V>
struct SoftmaxRowSimd {
  using Reg = typename V::Reg;
  static constexpr size_t L = V::kLanes;

  static float row_max(size_t n, const float* x) {
    Reg m = V::set1(-__builtin_inff());
    size_t j = 0;
    for (; j + L <= n; j += L) m = V::max(V::load(x + j), m);  // a NaN input is passed over
    alignas(64) float lanes[L];
    V::store(lanes, m);
    float r = -__builtin_inff();
    for (size_t l = 0; l < L; ++l) r = lanes[l] > r ? lanes[l] : r;
    for (; j < n; ++j) r = x[j] > r ? x[j] : r;
    return r;
  }

  // exp(x - m) for one vector; nm = -m.
  static Reg exp_shifted(Reg x, Reg nm) {
    const Reg t = V::add(x, nm);
    // TwoSum: t + err == x - m exactly (no FMA in these: each a rounded add).
    const Reg bv = V::sub(t, x);
    const Reg av = V::sub(t, bv);
    const Reg err = V::add(V::sub(x, av), V::sub(nm, bv));
    // exp_f32's reduction: n = round(t / ln 2), r = t - n ln 2 in two parts.
    const Reg lo = V::set1(-87.3365f);
    const Reg tc = V::max(lo, t);  // NaN stays NaN (second operand)
    const Reg n = V::sub(V::fmadd(tc, V::set1(1.44269504088896341f), V::set1(12582912.0f)), V::set1(12582912.0f));
    Reg r = V::fnmadd(n, V::set1(0.693359375f), tc);
    r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
    Reg p = V::set1(1.9875691500e-4f);
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
    p = V::fmadd(V::mul(p, r), r, V::add(r, V::set1(1.0f)));
    const Reg e = V::exp2i(p, n);  // p * 2^n (n in [-126, 0])
    // exp(t + err) = e + e * err to float32 precision; below the range, 0 (err may be NaN there).
    return V::keep_not_less(t, lo, V::fmadd(e, err, e));
  }

  static void row(size_t n, const float* x, float* y) {
    const Reg nm = V::set1(-row_max(n, x));
    typename V::DAcc acc = V::dzero();
    size_t j = 0;
    for (; j + L <= n; j += L) {
      const Reg e = exp_shifted(V::load(x + j), nm);  // x read before y is written: in place is fine
      V::store(y + j, e);
      V::dadd(acc, e);
    }
    if (j < n) {
      alignas(64) float buf[L];
      for (size_t l = 0; l < L; ++l) buf[l] = -__builtin_inff();
      std::memcpy(buf, x + j, (n - j) * sizeof(float));
      const Reg e = exp_shifted(V::load(buf), nm);
      V::dadd(acc, e);
      V::store(buf, e);
      std::memcpy(y + j, buf, (n - j) * sizeof(float));
    }
    const float inv = static_cast<float>(1.0 / V::dsum(acc));
    const Reg vinv = V::set1(inv);
    j = 0;
    for (; j + L <= n; j += L) V::store(y + j, V::mul(V::load(y + j), vinv));
    for (; j < n; ++j) y[j] *= inv;
  }
};

template <typename V>
void softmax_f32_simd(size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) SoftmaxRowSimd<V>::row(cols, x + r * cols, y + r * cols);
}

}  // namespace
}  // namespace fnn
