// int8 depthwise micro-kernel, AVX2: blocks of 8 channels run through the pixels of one output
// row after the other. A block's weights are widened to int32 lanes into a stack buffer (L1),
// so each tap of a pixel costs one widening load of x and a vpmaddwd against the buffered
// weights (x zero-extended in its lane: vpmaddwd gives x * w exactly); the interior of a 3x3
// layer's row keeps the widened input columns consecutive windows share in registers
// (interior3). The accumulator starts at bias - zp * sum(w), as in the AVX-512 kernel
// (qu8_dwconv_avx512.h); a padding column (an edge pixel's) is the zero point in every lane,
// whose zp * w that start takes back. A tail of fewer than 8 channels runs the scalar kernel,
// pixel by pixel, which this one matches bit for bit.
#include <immintrin.h>

#include <cstring>

#include "kernels/common/opaque.h"
#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

constexpr size_t kBufferedTaps = 32;  // windows up to 5x5 (and 4x8) buffer their weights

__m128i load8(const void* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm_cvtsi64_si128(v);
}

__m256i widen_u8(const uint8_t* p) { return _mm256_cvtepu8_epi32(load8(p)); }
__m256i widen_s8(const int8_t* p) { return _mm256_cvtepi8_epi32(load8(p)); }

// The output stage of an 8-channel block (QDwParams), from the block's weight sum.
struct Stage {
  bool u8;
  __m256i init, vozp;
  __m256 vs, vb, vlo, vhi;

  Stage(const QDwParams& p, size_t j, __m256i wsum) : u8(p.out_u8) {
    init = _mm256_mullo_epi32(wsum, _mm256_set1_epi32(-p.a_zero_point));
    vs = _mm256_loadu_ps(p.scale + j);
    vozp = _mm256_set1_epi32(p.out_zero_point);
    if (u8) {
      if (p.bias_i32 != nullptr) {
        init = _mm256_add_epi32(init, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias_i32 + j)));
      }
      vlo = _mm256_set1_ps(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
      vhi = _mm256_set1_ps(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
      vb = _mm256_setzero_ps();
    } else {
      // -0.0 is the identity of the add (+0.0 would turn a -0.0 product into +0.0).
      vb = p.bias_f32 != nullptr ? _mm256_loadu_ps(p.bias_f32 + j) : _mm256_set1_ps(-0.f);
      vlo = _mm256_set1_ps(p.lo);
      vhi = _mm256_set1_ps(p.hi);
    }
  }

  void store(__m256i acc, void* y) const {
    if (u8) {
      __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs);
      f = _mm256_min_ps(_mm256_max_ps(f, vlo), vhi);
      const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(f), vozp);  // in [qmin, qmax]
      const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      const int64_t q8 = _mm_cvtsi128_si64(_mm_packus_epi16(q16, q16));
      std::memcpy(y, &q8, 8);
    } else {
      __m256 f = opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), vs));
      f = _mm256_add_ps(f, vb);
      f = _mm256_min_ps(_mm256_max_ps(f, vlo), vhi);
      _mm256_storeu_ps(static_cast<float*>(y), f);
    }
  }
};

// The interior pixels [in.lo, in.hi) of a run of kRows x 3 windows whose pixels are kShift
// window columns apart (1 or 2): the widened input columns the next window shares stay in
// registers, so a pixel widens kShift new columns instead of 3.
template <size_t kRows, size_t kShift>
__attribute__((noinline)) void interior3(const QDwTaps& taps, const __m256i* wbuf, const Stage& stage, size_t c,
                                         size_t j, DwInterior in, void* y) {
  const QDwTaps t = taps;  // local copies: stores through y could alias the caller's
  const Stage out = stage;
  const size_t ob = out.u8 ? 1 : sizeof(float);
  const size_t xc = t.dw * t.x_pix, xs = t.sw * t.x_pix, xr = t.x_row;
  const uint8_t* xp = t.x + static_cast<size_t>(t.ix0 + static_cast<std::ptrdiff_t>(in.lo * t.sw)) * t.x_pix + j;
  char* yp = static_cast<char*>(y) + (in.lo * c + j) * ob;
  __m256i col[3][kRows];
#pragma GCC unroll 3
  for (size_t q = 0; q < 3; ++q) {
#pragma GCC unroll 3
    for (size_t r = 0; r < kRows; ++r) col[q][r] = widen_u8(xp + r * xr + q * xc);
  }
  for (size_t i = in.lo;;) {
    __m256i acc = out.init;
#pragma GCC unroll 3
    for (size_t r = 0; r < kRows; ++r) {
#pragma GCC unroll 3
      for (size_t q = 0; q < 3; ++q) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(col[q][r], wbuf[r * 3 + q]));
    }
    out.store(acc, yp);
    if (++i == in.hi) break;
    xp += xs;
    yp += c * ob;
#pragma GCC unroll 3
    for (size_t q = 0; q < 3; ++q) {
#pragma GCC unroll 3
      for (size_t r = 0; r < kRows; ++r) {
        col[q][r] = q + kShift < 3 ? col[q + kShift][r] : widen_u8(xp + r * xr + q * xc);
      }
    }
  }
}

// Channels [j, j + 8) of all n pixels; interior pixels (in) read their taps unchecked, edge
// pixels take the zero point for a padding column (its products cancel against zp * sum(w)).
void block8(size_t n, size_t c, const QDwTaps& taps, const QDwParams& p, void* y, size_t j, DwInterior in) {
  const QDwTaps t = taps;  // a local copy: stores through y could alias the caller's
  const size_t window = t.rows * t.cols;
  const bool buffered = window <= kBufferedTaps;
  __m256i wbuf[kBufferedTaps];
  __m256i wsum = _mm256_setzero_si256();
  for (size_t r = 0; r < t.rows; ++r) {
    for (size_t q = 0; q < t.cols; ++q) {
      const __m256i wv = widen_s8(t.w + r * t.w_row + q * t.w_col + j);
      if (buffered) wbuf[r * t.cols + q] = wv;
      wsum = _mm256_add_epi32(wsum, wv);
    }
  }
  auto weight = [&](size_t r, size_t q) {
    return buffered ? wbuf[r * t.cols + q] : widen_s8(t.w + r * t.w_row + q * t.w_col + j);
  };
  const Stage out(p, j, wsum);
  const __m256i vzp = _mm256_set1_epi32(p.a_zero_point);
  const size_t ob = p.out_u8 ? 1 : sizeof(float);
  // A 3x3 layer's rows (2 or 3 window rows) at a stride of one or two window columns.
  const size_t shift = t.sw == t.dw ? 1 : t.sw == 2 * t.dw ? 2 : 0;
  const bool k3x3 = t.rows == 3 && t.cols == 3 && buffered;
  const bool rolling = t.cols == 3 && (t.rows == 2 || t.rows == 3) && shift != 0 && in.hi - in.lo >= 4;
  if (rolling) {
    if (t.rows == 3) {
      shift == 1 ? interior3<3, 1>(t, wbuf, out, c, j, in, y) : interior3<3, 2>(t, wbuf, out, c, j, in, y);
    } else {
      shift == 1 ? interior3<2, 1>(t, wbuf, out, c, j, in, y) : interior3<2, 2>(t, wbuf, out, c, j, in, y);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const bool interior = i >= in.lo && i < in.hi;
    if (interior && rolling) {
      i = in.hi - 1;  // done above
      continue;
    }
    const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
    __m256i acc = out.init;
    if (interior && k3x3) {
      const uint8_t* x = t.x + static_cast<size_t>(ix) * t.x_pix + j;
      const size_t xc = t.dw * t.x_pix;
#pragma GCC unroll 9
      for (size_t k = 0; k < 9; ++k) {
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen_u8(x + (k / 3) * t.x_row + (k % 3) * xc), wbuf[k]));
      }
      out.store(acc, static_cast<char*>(y) + (i * c + j) * ob);
      continue;
    }
    for (size_t r = 0; r < t.rows; ++r) {
      for (size_t q = 0; q < t.cols; ++q) {
        const std::ptrdiff_t col = ix + static_cast<std::ptrdiff_t>(q * t.dw);
        const __m256i xv = interior || dw_column_in(t, col)
                               ? widen_u8(t.x + r * t.x_row + static_cast<size_t>(col) * t.x_pix + j)
                               : vzp;
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, weight(r, q)));
      }
    }
    out.store(acc, static_cast<char*>(y) + (i * c + j) * ob);
  }
}

// One output row (taps.m == 1 ignored: the caller steps the rows).
void row8(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  const DwInterior in = dw_interior(n, t);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) block8(n, c, t, p, y, j, in);
  if (j == c) return;
  QDwTaps tail = t;
  tail.x += j;
  tail.w += j;
  tail.m = 1;
  QDwParams pt = p;
  pt.scale += j;
  if (pt.bias_i32 != nullptr) pt.bias_i32 += j;
  if (pt.bias_f32 != nullptr) pt.bias_f32 += j;
  const size_t ob = p.out_u8 ? 1 : sizeof(float);
  for (size_t i = 0; i < n; ++i) {  // one pixel a call: the tail's outputs are c apart, not c - j
    tail.ix0 = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
    qu8_dwconv_ukernel__scalar(1, c - j, tail, pt, static_cast<char*>(y) + (i * c + j) * ob);
  }
}

}  // namespace

// Output row after output row: the weights are widened again per row (9 loads per 8 channels
// of a 3x3 window, beside a row of pixels).
void qu8_dwconv_ukernel__avx2(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  const size_t ob = p.out_u8 ? 1 : sizeof(float);
  QDwTaps row = t;
  row.m = 1;
  for (size_t k = 0; k < t.m; ++k) {
    row.x = t.x + k * t.x_next;
    row8(n, c, row, p, static_cast<char*>(y) + k * n * c * ob);
  }
}

}  // namespace fnn
