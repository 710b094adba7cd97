// AVX-512 SpMM / SpMV kernels: sparse weights (CSR or 1x4 BSR along K) times dense activations.
//
// Panel: a row keeps its nc <= 64 columns of y in NV = ceil(nc / 16) zmm per accumulator set;
// each weight is broadcast and FMAed with NV vectors of its p row, the last one masked. S sets
// (S * NV >= 8 chains: FMA latency 4 x 2 pipes) take consecutive weights in turn and are summed
// before the epilogue. f16 / s8 weights are converted 16 at a time into a stack buffer and
// broadcast from there, so every value kind runs the f32 inner loop.
// Vector: BK = 1 is scalar (8 chains); BK = 4 puts 4 blocks in a zmm (four 16-byte x loads).
// Rows go 16 at a time: one transposing add tree sums 16 rows' partials and the scale, bias,
// clamp and store run once per 16 rows (3-8% faster than a horizontal sum per row for BK = 4).
//
// Measured on Zen 5 (single core): the panel kernel is bound by L2 -> L1 traffic of the p rows
// (one 64-byte line per FMA), not by the FMAs; software prefetch of p rows did not help there.
// vgatherdps was no faster than scalar loads for BK = 1 (~1 nonzero per cycle either way) and
// 1.6x slower at ~10 nonzeros per row; for BK = 4 it was 4x slower than the 16-byte loads.
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/sparse/spmm_table.h"
#include "kernels/sparse/spmm_ukernels.h"
#include "kernels/sparse/spmm_value.h"

namespace fnn {
namespace {

constexpr size_t kNR = spmm_ukernels__avx512_tile.nr;  // the list's (spmm_ukernels.inc)
// Blocks of f16 / s8 weights converted per pass: a multiple of every unroll factor U, and long
// enough that the store-to-broadcast latency hides behind the FMAs of the previous pass.
constexpr size_t kChunk = 64;

__mmask16 mask16(size_t n) { return _cvtu32_mask16((1u << n) - 1u); }  // n <= 16

// Up to 16 weights from element offset off as f32; lanes outside m are zero and not read.
template <int V>
[[gnu::always_inline]] inline __m512 load_vals(const void* val, size_t off, __mmask16 m) {
  if constexpr (V == kSpmmF32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(val) + off);
  } else if constexpr (V == kSpmmF16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(val) + off));
  } else {
    const __m128i q = _mm_maskz_loadu_epi8(m, static_cast<const int8_t*>(val) + off);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
  }
}

// ---- Panel kernel ----

// acc[v] += w * (NV vectors of a p row); only the last vector can be partial.
template <size_t NV>
[[gnu::always_inline]] inline void fma_row(__m512 (&acc)[NV], __m512 w, const float* prow,
                                           __mmask16 tail) {
#pragma GCC unroll 4
  for (size_t v = 0; v < NV; ++v) {
    const __m512 pv = v + 1 < NV ? _mm512_loadu_ps(prow + 16 * v)
                                 : _mm512_maskz_loadu_ps(tail, prow + 16 * v);
    acc[v] = _mm512_fmadd_ps(w, pv, acc[v]);
  }
}

// nb blocks with f32 weights wv[b * BK + t]. The remainder (< U blocks) goes to the first sets:
// a short row's chains overlap with the next row's anyway.
template <typename Idx, size_t BK, size_t NV, size_t S>
[[gnu::always_inline]] inline void accumulate(__m512 (&acc)[S][NV], const Idx* idx,
                                              const float* wv, size_t nb, const float* p,
                                              size_t ldp, __mmask16 tail) {
  constexpr size_t U = S / BK > 1 ? S / BK : 1;  // blocks per iteration
  size_t b = 0;
  for (; b + U <= nb; b += U) {
#pragma GCC unroll 8
    for (size_t u = 0; u < U; ++u) {
      const float* prow = p + static_cast<size_t>(idx[b + u]) * BK * ldp;
#pragma GCC unroll 4
      for (size_t t = 0; t < BK; ++t) {
        fma_row<NV>(acc[(u * BK + t) % S], _mm512_set1_ps(wv[(b + u) * BK + t]), prow + t * ldp,
                    tail);
      }
    }
  }
  for (; b < nb; ++b) {
    const float* prow = p + static_cast<size_t>(idx[b]) * BK * ldp;
#pragma GCC unroll 4
    for (size_t t = 0; t < BK; ++t) {
      fma_row<NV>(acc[t % S], _mm512_set1_ps(wv[b * BK + t]), prow + t * ldp, tail);
    }
  }
}

template <int V, typename Idx, size_t BK, size_t NV>
void panel_tile(size_t rows, size_t nc, const SpmmWeights* w, const float* p, size_t ldp,
                float* y, size_t ldy, const SpmmParams* params) {
  constexpr size_t S = NV == 3 ? 3 : 8 / NV;
  const __mmask16 tail = mask16(nc - 16 * (NV - 1));
  const Idx* idx = static_cast<const Idx*>(w->idx);
  const __m512 vmin = _mm512_set1_ps(params->min);
  const __m512 vmax = _mm512_set1_ps(params->max);
  for (size_t r = 0; r < rows; ++r, y += ldy) {
    __m512 acc[S][NV];
#pragma GCC unroll 8
    for (size_t s = 0; s < S; ++s) {
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) acc[s][v] = _mm512_setzero_ps();
    }
    const size_t b0 = w->row_ptr[r];
    const size_t b1 = w->row_ptr[r + 1];
    if constexpr (V == kSpmmF32) {
      accumulate<Idx, BK, NV, S>(acc, idx + b0, static_cast<const float*>(w->val) + b0 * BK,
                                 b1 - b0, p, ldp, tail);
    } else {
      alignas(64) float buf[kChunk * BK];
      for (size_t c = b0; c < b1; c += kChunk) {
        const size_t n = std::min(b1 - c, kChunk);
        for (size_t i = 0; i < n * BK; i += 16) {
          const __mmask16 m = mask16(std::min<size_t>(n * BK - i, 16));
          _mm512_store_ps(buf + i, load_vals<V>(w->val, c * BK + i, m));
        }
        accumulate<Idx, BK, NV, S>(acc, idx + c, buf, n, p, ldp, tail);
      }
    }
#pragma GCC unroll 8
    for (size_t s = 1; s < S; ++s) {
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) acc[0][v] = _mm512_add_ps(acc[0][v], acc[s][v]);
    }
    const __m512 scale = _mm512_set1_ps(V == kSpmmS8 ? w->row_scale[r] : 1.0f);
    const __m512 bias = _mm512_set1_ps(params->bias != nullptr ? params->bias[r] : 0.0f);
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) {
      __m512 out = V == kSpmmS8 ? _mm512_mul_ps(acc[0][v], scale) : acc[0][v];
      // max/min return the second operand when either is NaN: a NaN result stays NaN.
      out = _mm512_min_ps(vmax, _mm512_max_ps(vmin, _mm512_add_ps(out, bias)));
      if (v + 1 < NV) {
        _mm512_storeu_ps(y + 16 * v, out);
      } else {
        _mm512_mask_storeu_ps(y + 16 * v, tail, out);
      }
    }
  }
}

// Masked loads and stores with an all-ones mask ran as fast as plain ones (nc = 16, 32, 64),
// so full and partial widths share one kernel per vector count.
FNN_SPMM_PANEL_ENTRY(panel_tile, 16)

// ---- Vector kernel ----

// x[idx[i] * 4 + t] in lanes 4i + t for 4 blocks, of which the first nb (>= 1) are real. Past
// nb the index read is clamped to idx[0] (idx may end there) and the masked-off x load neither
// faults nor contributes (0 * a named inf would be NaN).
template <typename Idx, bool kTail>
[[gnu::always_inline]] inline __m512 load_x4(const Idx* idx, size_t nb, const float* x) {
  __m128 xb[4];
#pragma GCC unroll 4
  for (size_t i = 0; i < 4; ++i) {
    if (!kTail || i == 0) {
      xb[i] = _mm_loadu_ps(x + static_cast<size_t>(idx[i]) * 4);
    } else {
      const size_t j = i < nb ? i : 0;
      xb[i] = _mm_maskz_loadu_ps(i < nb ? 0xF : 0, x + static_cast<size_t>(idx[j]) * 4);
    }
  }
  const __m256 lo = _mm256_insertf128_ps(_mm256_castps128_ps256(xb[0]), xb[1], 1);
  const __m256 hi = _mm256_insertf128_ps(_mm256_castps128_ps256(xb[2]), xb[3], 1);
  return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

template <int V, typename Idx>
[[gnu::always_inline]] inline float row_dot_bk1(const Idx* idx, const void* val, size_t b,
                                                size_t e, const float* x) {
  float a[8] = {};
  for (; b + 8 <= e; b += 8) {
#pragma GCC unroll 8
    for (size_t u = 0; u < 8; ++u) a[u] += spmm_value<V, F16cHalf>(val, b + u) * x[idx[b + u]];
  }
  for (; b < e; ++b) a[0] += spmm_value<V, F16cHalf>(val, b) * x[idx[b]];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// 16 partial sums of a BK = 4 row, 4 blocks (16 weights) per step.
template <int V, typename Idx>
[[gnu::always_inline]] inline __m512 row_dot_bk4(const Idx* idx, const void* val, size_t b,
                                                 size_t e, const float* x) {
  const __mmask16 all = 0xFFFF;
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  for (; b + 8 <= e; b += 8) {
    acc0 = _mm512_fmadd_ps(load_vals<V>(val, b * 4, all), load_x4<Idx, false>(idx + b, 4, x),
                           acc0);
    acc1 = _mm512_fmadd_ps(load_vals<V>(val, b * 4 + 16, all),
                           load_x4<Idx, false>(idx + b + 4, 4, x), acc1);
  }
  if (b + 4 <= e) {
    acc0 = _mm512_fmadd_ps(load_vals<V>(val, b * 4, all), load_x4<Idx, false>(idx + b, 4, x), acc0);
    b += 4;
  }
  if (b < e) {
    acc1 = _mm512_fmadd_ps(load_vals<V>(val, b * 4, mask16(4 * (e - b))),
                           load_x4<Idx, true>(idx + b, e - b, x), acc1);
  }
  return _mm512_add_ps(acc0, acc1);
}

// a, b: 128-bit lanes {a0 a1 a2 a3}, {b0 b1 b2 b3} -> (a0 + a2, a1 + a3, b0 + b2, b1 + b3) for
// kLo, kHi = 0x44, 0xEE; (a0 + a1, a2 + a3, b0 + b1, b2 + b3) for 0x88, 0xDD.
template <int kLo, int kHi>
[[gnu::always_inline]] inline __m512 fold(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, kLo), _mm512_shuffle_f32x4(a, b, kHi));
}

// Where row i's partials go in reduce16's input: lane 4j + k of the tree's result sums
// v[j + 4k], so row i = 4j + k is stored at v[4k + j].
constexpr size_t slot(size_t i) { return i % 4 * 4 + i / 4; }

// Lane i = the sum of the 16 partials of row i (stored at v[slot(i)]): 45 shuffles and adds
// for 16 rows instead of 16 separate horizontal sums.
[[gnu::always_inline]] inline __m512 reduce16(const __m512 (&v)[16]) {
  __m512 w[4];  // 128-bit lane j of w[q]: 4 partials of v[4q + j]
#pragma GCC unroll 4
  for (size_t q = 0; q < 4; ++q) {
    w[q] = fold<0x88, 0xDD>(fold<0x44, 0xEE>(v[4 * q], v[4 * q + 1]),
                            fold<0x44, 0xEE>(v[4 * q + 2], v[4 * q + 3]));
  }
  // Within 128-bit lane j: 2 partials of v[j], v[4 + j] (a) and of v[8 + j], v[12 + j] (b),
  // then the sums of v[j], v[4 + j], v[8 + j], v[12 + j].
  const __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
  const __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
  const __m512d ad = _mm512_castps_pd(a), bd = _mm512_castps_pd(b);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(ad, bd)),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(ad, bd)));
}

// Rows go 16 at a time so that the horizontal sums (BK = 4), scale, bias, clamp and store run
// as vectors once per 16 rows.
template <int V, typename Idx, size_t BK>
void spmv(size_t rows, const SpmmWeights* w, const float* x, float* y,
          const SpmmParams* params) {
  const Idx* idx = static_cast<const Idx*>(w->idx);
  const __m512 vmin = _mm512_set1_ps(params->min);
  const __m512 vmax = _mm512_set1_ps(params->max);
  for (size_t r0 = 0; r0 < rows; r0 += 16) {
    const size_t n = std::min<size_t>(rows - r0, 16);
    const uint32_t* rp = w->row_ptr + r0;
    __m512 acc;
    if constexpr (BK == 1) {
      alignas(64) float sums[16] = {};
      for (size_t i = 0; i < n; ++i) {
        sums[i] = row_dot_bk1<V, Idx>(idx, w->val, rp[i], rp[i + 1], x);
      }
      acc = _mm512_load_ps(sums);
    } else {
      __m512 part[16];
#pragma GCC unroll 16
      for (size_t i = 0; i < 16; ++i) part[i] = _mm512_setzero_ps();
      for (size_t i = 0; i < n; ++i) {
        part[slot(i)] = row_dot_bk4<V, Idx>(idx, w->val, rp[i], rp[i + 1], x);
      }
      acc = reduce16(part);
    }
    const __mmask16 m = mask16(n);
    if constexpr (V == kSpmmS8) {
      acc = _mm512_mul_ps(acc, _mm512_maskz_loadu_ps(m, w->row_scale + r0));
    }
    if (params->bias != nullptr) {
      acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, params->bias + r0));
    }
    _mm512_mask_storeu_ps(y + r0, m, _mm512_min_ps(vmax, _mm512_max_ps(vmin, acc)));
  }
}

}  // namespace

FNN_SPMM_UKERNELS_DEFINE(spmm_ukernels__avx512)

}  // namespace fnn
