// The portable row softmax (the scalar level's kernel; softmax_f32_simd.h is the same
// algorithm in explicit vectors): four passes over a row (max, exp, sum, scale). The sum keeps
// 8 fixed double lanes, so a row's result never depends on the threads or on where the row
// sits.
//
// Accuracy, against the float64 formula on the float32 inputs: within a few ulp wherever the
// result is a normal float32. exp_f32 is within 1 ulp, the sum is in double, and x - max is
// corrected for its own rounding (TwoSum): without that, |x - max| near 80 loses up to half an
// ulp of 80 before exp sees it (4e-6 relative after exp: 30 to 60 float32 ulp). Results below
// float32's smallest normal come out 0 (exp_f32 flushes below -87.3).
// Everything is in an anonymous namespace (exp_f32.h's rule): no copy is shared across ISAs.
#pragma once

#include <cstddef>

#include "kernels/common/exp_f32.h"
#include "kernels/eltwise/softmax_f32.h"

namespace fnn {
namespace {

constexpr size_t kMaxLanes = 16;
constexpr size_t kSumLanes = 8;

// The row's maximum, NaN ignored (a NaN still reaches every output through the sum).
inline float softmax_row_max(size_t n, const float* x) {
  float m[kMaxLanes];
  for (size_t l = 0; l < kMaxLanes; ++l) m[l] = -__builtin_inff();
  size_t j = 0;
  for (; j + kMaxLanes <= n; j += kMaxLanes) {
    for (size_t l = 0; l < kMaxLanes; ++l) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  }
  float r = -__builtin_inff();
  for (; j < n; ++j) r = x[j] > r ? x[j] : r;
  for (size_t l = 0; l < kMaxLanes; ++l) r = m[l] > r ? m[l] : r;
  return r;
}

// exp(x - m) with t = x - m's rounding error put back: TwoSum gives t + err == x - m exactly,
// and exp(t + err) = e + e * err to float32 precision (|err| <= 2^-24 |t|). Where t is
// infinite (an -inf input) err is NaN and e alone is the value.
inline float softmax_exp(float x, float m) {
  const float nm = -m;
  const float t = x + nm;
  const float bv = t - x;
  const float av = t - bv;
  const float err = (x - av) + (nm - bv);
  const float e = exp_f32(t);
  const float c = e * err;
  return c == c ? e + c : e;
}

// sum(y) in double over kSumLanes fixed lanes, combined pairwise.
inline double softmax_row_sum(size_t n, const float* y) {
  double s[kSumLanes] = {};
  size_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (size_t l = 0; l < kSumLanes; ++l) s[l] += static_cast<double>(y[j + l]);
  }
  for (size_t l = 0; j < n; ++j, ++l) s[l] += static_cast<double>(y[j]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

inline void softmax_f32_body(size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    const float m = softmax_row_max(cols, in);
    for (size_t j = 0; j < cols; ++j) out[j] = softmax_exp(in[j], m);  // in[j] read first: in place is fine
    const float inv = static_cast<float>(1.0 / softmax_row_sum(cols, out));
    for (size_t j = 0; j < cols; ++j) out[j] *= inv;
  }
}

}  // namespace
}  // namespace fnn
