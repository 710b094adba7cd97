// Sparse W x dense P kernels, AVX2 + FMA + F16C (no AVX-512: these run on AVX2-only CPUs).
//
// Both kernels are bound by load slots, not FMAs: the P rows (panel) and x elements (vector)
// a row names are scattered, and the CPU sustains about 2 loads per cycle (measured on Zen 5,
// vector and integer loads alike; Intel has 2-3 ports). So weights are fetched 4 at a time and
// broadcast by register permutes, and indices 4 at a time with one scalar load and shifts.
//
// Panel kernel: one W row at a time against up to 32 columns of P, NV = ceil(nc / 8) ymm
// accumulators per set. NV and "partial last vector" are template parameters so the
// accumulators stay in registers and full tiles never pay for vmaskmovps. S sets (blocks
// round-robin for BK = 1, the 4 K steps of a block for BK = 4) keep 8 FMA chains in flight.
//
// Vector kernel: rows are short at high sparsity (~10 nonzeros at 99% of 1024 columns), so
// per-row cost matters. Each row is a ymm of partial sums; 8 rows share one hadd-tree reduction
// and a vectorized epilogue. BK = 1 builds x vectors from 8 scalar loads, BK = 4 pairs two
// blocks per ymm.
#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/sparse/spmm_table.h"
#include "kernels/sparse/spmm_ukernels.h"
#include "kernels/sparse/spmm_value.h"

namespace fnn {
namespace {

constexpr size_t kNR = spmm_ukernels__avx2_tile.nr;  // the list's (spmm_ukernels.inc)

// Lanes i < n set (maskload / maskstore test the sign bit).
[[gnu::always_inline]] inline __m256i first_lanes(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- Weight values as f32 ----

// Values i .. i + 7.
template <int V>
[[gnu::always_inline]] inline __m256 load8(const void* val, size_t i) {
  if constexpr (V == kSpmmF32) {
    return _mm256_loadu_ps(static_cast<const float*>(val) + i);
  } else if constexpr (V == kSpmmF16) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(val) + i)));
  } else {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(val) + i))));
  }
}

// Values i .. i + 3.
template <int V>
[[gnu::always_inline]] inline __m128 load4(const void* val, size_t i) {
  if constexpr (V == kSpmmF32) {
    return _mm_loadu_ps(static_cast<const float*>(val) + i);
  } else if constexpr (V == kSpmmF16) {
    return _mm_cvtph_ps(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(val) + i)));
  } else {
    int32_t b;  // 4 bytes: memcpy keeps the unaligned load legal
    std::memcpy(&b, static_cast<const int8_t*>(val) + i, sizeof(b));
    return _mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(b)));
  }
}

// Values i .. i + 3, each broadcast to all lanes: one load (and conversion) and 4 in-lane
// permutes by immediate, which need no index registers (8 accumulators take half the file).
// vbroadcastss from memory would cost a load slot per value.
template <int V>
[[gnu::always_inline]] inline void broadcast4(const void* val, size_t i, __m256 (&wv)[4]) {
  __m256 v;
  if constexpr (V == kSpmmF32) {
    v = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(static_cast<const float*>(val) + i));
  } else {
    const __m128 h = load4<V>(val, i);
    v = _mm256_set_m128(h, h);
  }
  wv[0] = _mm256_permute_ps(v, 0x00);
  wv[1] = _mm256_permute_ps(v, 0x55);
  wv[2] = _mm256_permute_ps(v, 0xAA);
  wv[3] = _mm256_permute_ps(v, 0xFF);
}

// idx[0 .. 3] from one or two scalar loads and shifts: load slots are scarce, ALUs idle.
template <typename Idx>
[[gnu::always_inline]] inline void load_idx4(const Idx* idx, size_t (&i)[4]) {
  if constexpr (sizeof(Idx) == 2) {
    uint64_t q;
    std::memcpy(&q, idx, sizeof(q));
    i[0] = q & 0xFFFF;
    i[1] = (q >> 16) & 0xFFFF;
    i[2] = (q >> 32) & 0xFFFF;
    i[3] = q >> 48;
  } else {
    uint64_t q[2];
    std::memcpy(q, idx, sizeof(q));
    i[0] = q[0] & 0xFFFFFFFF;
    i[1] = q[0] >> 32;
    i[2] = q[1] & 0xFFFFFFFF;
    i[3] = q[1] >> 32;
  }
}

// ---- Panel kernel ----

// acc += w * prow[0 .. 8 NV); the last vector only reads the masked lanes when kTail.
template <size_t NV, bool kTail>
[[gnu::always_inline]] inline void fma_row(__m256 (&acc)[NV], __m256 w, const float* prow,
                                           __m256i tail) {
#pragma GCC unroll 4
  for (size_t j = 0; j < NV; ++j) {
    const __m256 pv = kTail && j == NV - 1 ? _mm256_maskload_ps(prow + 8 * j, tail)
                                           : _mm256_loadu_ps(prow + 8 * j);
    acc[j] = _mm256_fmadd_ps(w, pv, acc[j]);
  }
}

template <int V, typename Idx, size_t BK, size_t NV, bool kTail>
void panel(size_t rows, size_t nc, const SpmmWeights* w, const float* p, size_t ldp, float* y,
           size_t ldy, const SpmmParams* params) {
  constexpr size_t S = NV == 1 ? 4 : 2;  // accumulator sets: S * NV >= 8 chains
  const __m256i tail = first_lanes(nc - 8 * (NV - 1));
  const Idx* idx = static_cast<const Idx*>(w->idx);
  const void* val = w->val;
  const __m256 vmin = _mm256_set1_ps(params->min);
  const __m256 vmax = _mm256_set1_ps(params->max);
  for (size_t r = 0; r < rows; ++r) {
    __m256 acc[S][NV];
#pragma GCC unroll 4
    for (size_t s = 0; s < S; ++s) {
#pragma GCC unroll 4
      for (size_t j = 0; j < NV; ++j) acc[s][j] = _mm256_setzero_ps();
    }
    size_t b = w->row_ptr[r];
    const size_t e = w->row_ptr[r + 1];
    // 4 blocks (BK = 1) or the 4 K steps of a block (BK = 4) per step, over the S sets.
    constexpr size_t kStep = BK == 1 ? 4 : 1;
    for (; b + kStep <= e; b += kStep) {
      __m256 wv[4];
      broadcast4<V>(val, b * BK, wv);
      size_t ib[4];
      if constexpr (BK == 1) load_idx4(idx + b, ib);
#pragma GCC unroll 4
      for (size_t t = 0; t < 4; ++t) {
        const float* prow = BK == 1 ? p + ib[t] * ldp
                                    : p + (static_cast<size_t>(idx[b]) * 4 + t) * ldp;
        fma_row<NV, kTail>(acc[t % S], wv[t], prow, tail);
      }
    }
    if constexpr (BK == 1) {
      // Leftover blocks still go to separate sets: rows are often only a few blocks long.
#pragma GCC unroll 4
      for (size_t t = 0; t < 3; ++t) {
        if (b + t < e) {
          const __m256 wv = _mm256_set1_ps(spmm_value<V, F16cHalf>(val, b + t));
          fma_row<NV, kTail>(acc[t % S], wv, p + static_cast<size_t>(idx[b + t]) * ldp, tail);
        }
      }
    }

    const __m256 bias =
        params->bias != nullptr ? _mm256_set1_ps(params->bias[r]) : _mm256_setzero_ps();
    float* yr = y + r * ldy;
#pragma GCC unroll 4
    for (size_t j = 0; j < NV; ++j) {
      __m256 v = acc[0][j];
#pragma GCC unroll 4
      for (size_t s = 1; s < S; ++s) v = _mm256_add_ps(v, acc[s][j]);
      if constexpr (V == kSpmmS8) {
        v = _mm256_fmadd_ps(v, _mm256_set1_ps(w->row_scale[r]), bias);
      } else {
        v = _mm256_add_ps(v, bias);
      }
      // max/min return the second operand when either is NaN: a NaN stays NaN, as in scalar.
      v = _mm256_min_ps(vmax, _mm256_max_ps(vmin, v));
      if (kTail && j == NV - 1) {
        _mm256_maskstore_ps(yr + 8 * j, tail, v);
      } else {
        _mm256_storeu_ps(yr + 8 * j, v);
      }
    }
  }
}

template <int V, typename Idx, size_t BK, size_t NV>
void panel_nv(size_t rows, size_t nc, const SpmmWeights* w, const float* p, size_t ldp,
              float* y, size_t ldy, const SpmmParams* params) {
  if (nc % 8 != 0) return panel<V, Idx, BK, NV, true>(rows, nc, w, p, ldp, y, ldy, params);
  panel<V, Idx, BK, NV, false>(rows, nc, w, p, ldp, y, ldy, params);
}

FNN_SPMM_PANEL_ENTRY(panel_nv, 8)

// ---- Vector kernel ----

// x[idx[0]], ..., x[idx[7]]. Scalar loads measured 1.2-1.4x faster than vgatherdps on Zen 5;
// gathers are also slow on Zen 2/3 and on Intel parts with the GDS (Downfall) microcode fix.
template <typename Idx>
[[gnu::always_inline]] inline __m256 xload8(const float* x, const Idx* idx) {
  size_t i[4], j[4];
  load_idx4(idx, i);
  load_idx4(idx + 4, j);
  return _mm256_setr_ps(x[i[0]], x[i[1]], x[i[2]], x[i[3]], x[j[0]], x[j[1]], x[j[2]], x[j[3]]);
}

// Partial sums of row blocks [s, e), BK = 1: 8 blocks per step, the last n % 8 scalar. Masked
// vector tails (windows reaching back before s, or a fixed two windows for rows < 16) measured
// 10-25% slower on the ~10-block rows of 99% sparsity and no faster on long rows.
template <int V, typename Idx>
[[gnu::always_inline]] inline __m256 dot_bk1(const Idx* idx, const void* val, const float* x,
                                             size_t s, size_t e) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = s;
  for (; b + 16 <= e; b += 16) {
    acc0 = _mm256_fmadd_ps(load8<V>(val, b), xload8(x, idx + b), acc0);
    acc1 = _mm256_fmadd_ps(load8<V>(val, b + 8), xload8(x, idx + b + 8), acc1);
  }
  if (b + 8 <= e) {
    acc0 = _mm256_fmadd_ps(load8<V>(val, b), xload8(x, idx + b), acc0);
    b += 8;
  }
  float t = 0.0f;
  for (; b < e; ++b) t += spmm_value<V, F16cHalf>(val, b) * x[idx[b]];
  return _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_setr_ps(t, 0, 0, 0, 0, 0, 0, 0));
}

// Partial sums of row blocks [s, e), BK = 4: two blocks (8 weights, two 4-float x runs) per ymm.
template <int V, typename Idx>
[[gnu::always_inline]] inline __m256 dot_bk4(const Idx* idx, const void* val, const float* x,
                                             size_t s, size_t e) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = s;
  for (; b + 4 <= e; b += 4) {
    size_t i[4];
    load_idx4(idx + b, i);
    const __m256 x0 = _mm256_loadu2_m128(x + i[1] * 4, x + i[0] * 4);
    const __m256 x1 = _mm256_loadu2_m128(x + i[3] * 4, x + i[2] * 4);
    acc0 = _mm256_fmadd_ps(load8<V>(val, b * 4), x0, acc0);
    acc1 = _mm256_fmadd_ps(load8<V>(val, b * 4 + 8), x1, acc1);
  }
  if (b + 2 <= e) {
    const float* x0 = x + static_cast<size_t>(idx[b]) * 4;
    const float* x1 = x + static_cast<size_t>(idx[b + 1]) * 4;
    acc0 = _mm256_fmadd_ps(load8<V>(val, b * 4), _mm256_loadu2_m128(x1, x0), acc0);
    b += 2;
  }
  if (b < e) {
    const __m128 xb = _mm_loadu_ps(x + static_cast<size_t>(idx[b]) * 4);
    const __m128 t = _mm_mul_ps(load4<V>(val, b * 4), xb);
    acc1 = _mm256_add_ps(acc1, _mm256_set_m128(_mm_setzero_ps(), t));
  }
  return _mm256_add_ps(acc0, acc1);
}

// Lane i = the sum of a[i]'s lanes.
[[gnu::always_inline]] inline __m256 hsum8(const __m256 (&a)[8]) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

template <int V, typename Idx, size_t BK>
void spmv(size_t rows, const SpmmWeights* w, const float* x, float* y, const SpmmParams* params) {
  const Idx* idx = static_cast<const Idx*>(w->idx);
  const uint32_t* rp = w->row_ptr;
  const __m256 vmin = _mm256_set1_ps(params->min);
  const __m256 vmax = _mm256_set1_ps(params->max);
  for (size_t r = 0; r < rows; r += 8) {
    const size_t n = rows - r < 8 ? rows - r : 8;
    __m256 a[8];
    size_t s = rp[r];
    for (size_t i = 0; i < 8; ++i) {
      if (i >= n) {
        a[i] = _mm256_setzero_ps();
        continue;
      }
      const size_t e = rp[r + i + 1];
      if constexpr (BK == 1) {
        a[i] = dot_bk1<V, Idx>(idx, w->val, x, s, e);
      } else {
        a[i] = dot_bk4<V, Idx>(idx, w->val, x, s, e);
      }
      s = e;
    }
    __m256 v = hsum8(a);
    // The last group may be partial: load and store only its rows.
    const __m256i m = first_lanes(n);
    auto load = [&](const float* q) {
      return n == 8 ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, m);
    };
    if constexpr (V == kSpmmS8) v = _mm256_mul_ps(v, load(w->row_scale + r));
    if (params->bias != nullptr) v = _mm256_add_ps(v, load(params->bias + r));
    v = _mm256_min_ps(vmax, _mm256_max_ps(vmin, v));
    if (n == 8) _mm256_storeu_ps(y + r, v); else _mm256_maskstore_ps(y + r, m, v);
  }
}

}  // namespace

FNN_SPMM_UKERNELS_DEFINE(spmm_ukernels__avx2)

}  // namespace fnn
