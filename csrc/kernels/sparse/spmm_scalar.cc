// Portable SpMM / SpMV kernels: the reference every SIMD path is tested against.
#include <algorithm>
#include <cassert>

#include "kernels/common/half.h"
#include "kernels/sparse/spmm_table.h"
#include "kernels/sparse/spmm_ukernels.h"
#include "kernels/sparse/spmm_value.h"

namespace fnn {
namespace {

constexpr size_t kScalarNR = spmm_ukernels__scalar_tile.nr;  // the list's (spmm_ukernels.inc)

template <int V>
inline float row_scale(const SpmmWeights* w, size_t r) {
  if constexpr (V == kSpmmS8) return w->row_scale[r];
  return 1.0f;
}

inline float finish(float acc, float scale, const SpmmParams* p, size_t r) {
  float v = acc * scale + (p->bias != nullptr ? p->bias[r] : 0.0f);
  return std::min(std::max(v, p->min), p->max);
}

template <int V, typename Idx, size_t BK>
void spmm_panel(size_t rows, size_t nc, const SpmmWeights* w, const float* p, size_t ldp,
                float* y, size_t ldy, const SpmmParams* params) {
  assert(nc >= 1 && nc <= kScalarNR);
  const Idx* idx = static_cast<const Idx*>(w->idx);
  for (size_t r = 0; r < rows; ++r) {
    float acc[kScalarNR] = {};
    for (uint32_t b = w->row_ptr[r]; b < w->row_ptr[r + 1]; ++b) {
      const float* prow = p + static_cast<size_t>(idx[b]) * BK * ldp;
      for (size_t t = 0; t < BK; ++t) {
        const float v = spmm_value<V, SoftHalf>(w->val, static_cast<size_t>(b) * BK + t);
        for (size_t j = 0; j < nc; ++j) acc[j] += v * prow[t * ldp + j];
      }
    }
    const float s = row_scale<V>(w, r);
    for (size_t j = 0; j < nc; ++j) y[r * ldy + j] = finish(acc[j], s, params, r);
  }
}

template <int V, typename Idx, size_t BK>
void spmv(size_t rows, const SpmmWeights* w, const float* x, float* y,
          const SpmmParams* params) {
  const Idx* idx = static_cast<const Idx*>(w->idx);
  for (size_t r = 0; r < rows; ++r) {
    float acc = 0.0f;
    for (uint32_t b = w->row_ptr[r]; b < w->row_ptr[r + 1]; ++b) {
      const float* xb = x + static_cast<size_t>(idx[b]) * BK;
      for (size_t t = 0; t < BK; ++t) acc += spmm_value<V, SoftHalf>(w->val, static_cast<size_t>(b) * BK + t) * xb[t];
    }
    y[r] = finish(acc, row_scale<V>(w, r), params, r);
  }
}

}  // namespace

FNN_SPMM_UKERNELS_DEFINE(spmm_ukernels__scalar)

}  // namespace fnn
