// The AVX-512 int8 depthwise micro-kernel, shared by qu8_dwconv_avx512.cc and
// qu8_dwconv_avx512vnni.cc. Include it only from translation units compiled with AVX-512
// F/BW/VL; everything here is in an anonymous namespace, so each includes its own copy with
// its own flags.
//
// Theory of operation. A block of 16 channels runs through all n pixels of the run. Products
// are formed on "columns": the input of up to 4 window rows at one window column, 16 channels,
// spread so that channel c's 32-bit lane holds its bytes from those rows,
//   VNNI:     [x_r0, x_r1, x_r2, x_r3]          one zmm; vpdpbusd adds x_r0*w_r0 + ... + x_r3*w_r3
//                                               (u8 x s8 into int32, exact: no saturation)
//   no VNNI:  lo = [x_r0, 0, x_r2, 0], hi = [x_r1, 0, x_r3, 0]   two zmm of u16 pairs; vpmaddwd
//             against s16 weight pairs adds the same four products (exact in int32)
// with rows past the window's zero in both x and w. A column is built from one 16-byte load
// per row, broadcast to the four 128-bit lanes (a load-port broadcast, no shuffle), and one
// vpshufb per row that drops each channel's byte into its lane (masked: the row's byte slot).
// The weights are spread the same way ONCE per channel block and stay in registers for the
// whole run (3 columns x 1 or 2 zmm for a 3x3 window), so a 3x3 pixel costs 3 vpdpbusd, and,
// because a stride-1 (stride-2) window shares 2 (1) of its 3 columns with the previous pixel's,
// only 1 (2) new columns: 3 (6) shuffles. A run is one or more output rows (an image's middle
// rows together): their edge pixels use the same registers, with a padding column (the zero
// point in every slot) for each window column outside the input. Each window shape up to 3x3
// (a 3x3 layer's top, middle and bottom rows) and the 3-, 4- and 5-row windows of a 5x5 layer
// have their own kernel (more than 4 rows: two 4-row groups per column); other windows (none
// too) take a generic loop over 4-row groups and columns.
//
// The zero point comes off through zp * sum(w) over the run's taps, computed from the spread
// weights (vpdpbusd / vpmaddwd against the zero point in every byte / s16) once per block: the
// accumulator starts at bias - zp * sum(w) (wrapping int32, as the scalar reference's sum), so
// a pixel's output stage is a conversion, a multiply, the clamp and the store.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/opaque.h"
#include "kernels/conv/dwconv_ukernels.h"

namespace fnn {
namespace {

// Byte slot r of every 32-bit lane.
inline __mmask64 slot(size_t r) { return _cvtu64_mask64(0x1111111111111111ull << r); }

// What the channel blocks of a call share: their lanes (16 channels, or the first few under a
// mask), the spreading shuffle's control, and the output stage's constants.
template <bool kTail>
struct QDwLanes {
  __mmask16 m;
  __m512i spread;  // vpshufb control: every byte of dword e takes byte e of its 128-bit lane
  __m512i zp;      // the input's zero point in every byte (VNNI) or every s16 (no VNNI)
  bool u8;         // u8 output (else float32)
  __m512 lo, hi;   // output bounds: qmin - zp, qmax - zp (u8), or lo, hi
  __m512i ozp;     // the output's zero point

  QDwLanes(const QDwParams& p, __mmask16 mask, __m512i ctrl, __m512i zero_point)
      : m(mask), spread(ctrl), zp(zero_point), u8(p.out_u8), ozp(_mm512_set1_epi32(p.out_zero_point)) {
    lo = _mm512_set1_ps(u8 ? static_cast<float>(int64_t{p.qmin} - p.out_zero_point) : p.lo);
    hi = _mm512_set1_ps(u8 ? static_cast<float>(int64_t{p.qmax} - p.out_zero_point) : p.hi);
  }

  // 16 bytes at p in the four 128-bit lanes.
  __m512i bcast(const void* p) const {
    if constexpr (kTail) {
      return _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8(m, p));
    } else {
      return _mm512_broadcast_i32x4(_mm_loadu_si128(static_cast<const __m128i*>(p)));
    }
  }
  // v with byte slot r of channel lane e replaced by byte e of the 16 at p.
  __m512i put(__m512i v, size_t r, const void* p) const {
    return _mm512_mask_shuffle_epi8(v, slot(r), bcast(p), spread);
  }
};

template <bool kVnni>
struct QDwCol;

template <>
struct QDwCol<true> {
  __m512i v;
};

template <>
struct QDwCol<false> {
  __m512i lo, hi;
};

// The column of up to 4 rows at p (rows `stride` bytes apart); kRows 0: `rows` at run time.
template <bool kVnni, size_t kRows, bool kTail>
QDwCol<kVnni> dw_col(const void* p, size_t rows, size_t stride, const QDwLanes<kTail>& io) {
  const char* b = static_cast<const char*>(p);
  const size_t nr = kRows != 0 ? kRows : rows;
  QDwCol<kVnni> col;
  if constexpr (kVnni) {
    col.v = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (size_t r = 0; r < nr; ++r) col.v = io.put(col.v, r, b + r * stride);
  } else {
    col.lo = col.hi = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (size_t r = 0; r < nr; ++r) {
      if (r % 2 == 0) {
        col.lo = io.put(col.lo, r & 2, b + r * stride);
      } else {
        col.hi = io.put(col.hi, r & 2, b + r * stride);
      }
    }
  }
  return col;
}

// A weight column: the same spread of s8 weights (no VNNI: sign-extended to s16 pairs).
template <bool kVnni, size_t kRows, bool kTail>
QDwCol<kVnni> dw_wcol(const int8_t* p, size_t rows, size_t stride, const QDwLanes<kTail>& io) {
  const QDwCol<true> q = dw_col<true, kRows, kTail>(p, rows, stride, io);
  if constexpr (kVnni) {
    return q;
  } else {
    return QDwCol<false>{_mm512_srai_epi16(_mm512_slli_epi16(q.v, 8), 8), _mm512_srai_epi16(q.v, 8)};
  }
}

template <bool kVnni>
__m512i dw_dot(__m512i acc, const QDwCol<kVnni>& x, const QDwCol<kVnni>& w) {
  if constexpr (kVnni) {
    return _mm512_dpbusd_epi32(acc, x.v, w.v);
  } else {
    return _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(x.lo, w.lo), _mm512_madd_epi16(x.hi, w.hi)));
  }
}

// The column of a window of kRows (<= 8) rows: one 4-row group, or two.
template <bool kVnni, size_t kRows>
struct QDwTall {
  static_assert(kRows >= 1 && kRows <= 8, "one or two 4-row groups");
  static constexpr size_t kGroups = kRows > 4 ? 2 : 1;
  static constexpr size_t kRows0 = kRows > 4 ? 4 : kRows;  // rows of group 0 (group 1: the rest)
  QDwCol<kVnni> g[kGroups];
};

template <bool kVnni, size_t kRows, bool kTail>
QDwTall<kVnni, kRows> dw_tall_col(const uint8_t* p, size_t stride, const QDwLanes<kTail>& io) {
  using T = QDwTall<kVnni, kRows>;
  T col;
  col.g[0] = dw_col<kVnni, T::kRows0, kTail>(p, T::kRows0, stride, io);
  if constexpr (kRows > 4) col.g[1] = dw_col<kVnni, kRows - 4, kTail>(p + 4 * stride, kRows - 4, stride, io);
  return col;
}

template <bool kVnni, size_t kRows, bool kTail>
QDwTall<kVnni, kRows> dw_tall_wcol(const int8_t* p, size_t stride, const QDwLanes<kTail>& io) {
  using T = QDwTall<kVnni, kRows>;
  T col;
  col.g[0] = dw_wcol<kVnni, T::kRows0, kTail>(p, T::kRows0, stride, io);
  if constexpr (kRows > 4) col.g[1] = dw_wcol<kVnni, kRows - 4, kTail>(p + 4 * stride, kRows - 4, stride, io);
  return col;
}

// A padding column: the zero point in every slot.
template <bool kVnni, bool kTail>
QDwCol<kVnni> dw_pad(const QDwLanes<kTail>& io) {
  if constexpr (kVnni) {
    return QDwCol<true>{io.zp};
  } else {
    return QDwCol<false>{io.zp, io.zp};
  }
}

// Per lane, acc + the input's zero point times the sum of a weight column's (up to 4) weights.
template <bool kVnni, bool kTail>
__m512i dw_zp_wsum(__m512i acc, const QDwCol<kVnni>& w, const QDwLanes<kTail>& io) {
  if constexpr (kVnni) {
    return _mm512_dpbusd_epi32(acc, io.zp, w.v);
  } else {
    return _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(w.lo, io.zp), _mm512_madd_epi16(w.hi, io.zp)));
  }
}

template <bool kVnni, size_t kRows>
__m512i dw_tall_dot(__m512i acc, const QDwTall<kVnni, kRows>& x, const QDwTall<kVnni, kRows>& w) {
#pragma GCC unroll 2
  for (size_t g = 0; g < QDwTall<kVnni, kRows>::kGroups; ++g) acc = dw_dot<kVnni>(acc, x.g[g], w.g[g]);
  return acc;
}

template <bool kVnni, size_t kRows, bool kTail>
__m512i dw_tall_zp_wsum(__m512i acc, const QDwTall<kVnni, kRows>& w, const QDwLanes<kTail>& io) {
#pragma GCC unroll 2
  for (size_t g = 0; g < QDwTall<kVnni, kRows>::kGroups; ++g) acc = dw_zp_wsum<kVnni>(acc, w.g[g], io);
  return acc;
}

template <bool kVnni, size_t kRows, bool kTail>
QDwTall<kVnni, kRows> dw_tall_pad(const QDwLanes<kTail>& io) {
  QDwTall<kVnni, kRows> col;
#pragma GCC unroll 2
  for (size_t g = 0; g < QDwTall<kVnni, kRows>::kGroups; ++g) col.g[g] = dw_pad<kVnni>(io);
  return col;
}

// The output stage of one channel block (QDwParams), from zp * sum(w) over the block's taps.
template <bool kTail>
struct QDwStage {
  const QDwLanes<kTail>& io;
  __m512i init;  // the accumulator's start: bias - zp * sum(w)
  __m512 vs, vb;

  QDwStage(const QDwParams& p, size_t j, const QDwLanes<kTail>& lanes, __m512i zp_wsum) : io(lanes) {
    const __mmask16 m = io.m;
    vs = _mm512_maskz_loadu_ps(m, p.scale + j);
    const __m512i b = io.u8 && p.bias_i32 != nullptr ? _mm512_maskz_loadu_epi32(m, p.bias_i32 + j)
                                                     : _mm512_setzero_si512();
    init = _mm512_sub_epi32(b, zp_wsum);
    // -0.0 is the identity of the add (+0.0 would turn a -0.0 product into +0.0).
    vb = !io.u8 && p.bias_f32 != nullptr ? _mm512_mask_loadu_ps(_mm512_set1_ps(-0.f), m, p.bias_f32 + j)
                                         : _mm512_set1_ps(-0.f);
  }

  // y: this block's first channel of one pixel.
  void store(__m512i acc, void* y) const {
    if (io.u8) {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), vs);
      f = _mm512_min_ps(_mm512_max_ps(f, io.lo), io.hi);
      const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), io.ozp);  // in [qmin, qmax]
      if constexpr (kTail) {
        _mm512_mask_cvtepi32_storeu_epi8(y, io.m, q);
      } else {
        _mm_storeu_si128(static_cast<__m128i*>(y), _mm512_cvtepi32_epi8(q));
      }
    } else {
      __m512 f = opaque(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), vs));
      f = _mm512_add_ps(f, vb);
      f = _mm512_min_ps(_mm512_max_ps(f, io.lo), io.hi);
      if constexpr (kTail) {
        _mm512_mask_storeu_ps(y, io.m, f);
      } else {
        _mm512_storeu_ps(y, f);
      }
    }
  }
};

// Windows of kRows (<= 8: one or two 4-row groups) x kCols taps, the weights in registers. Interior pixels (in): when
// kShift < kCols (sw == kShift * dw), consecutive windows overlap by kCols - kShift columns,
// which are kept rather than rebuilt. Edge pixels build each column, or take the padding one.
// Out of line: inlined into qu8_dw_lanes' switch, GCC spilled the 3x3 loop's registers (2.4 ->
// 3.1 ns a 16-channel pixel).
template <bool kVnni, size_t kRows, size_t kCols, size_t kShift, bool kTail>
__attribute__((noinline)) void qu8_dw_block(size_t n, size_t c, const QDwTaps& taps, const QDwParams& p, void* y,
                                            size_t j, const QDwLanes<kTail>& lanes, DwInterior in) {
  // Local copies: the stores through y could alias the callers' structs, which would make the
  // compiler reload the strides and constants after every pixel.
  const QDwTaps t = taps;
  const QDwLanes<kTail> io = lanes;
  using Col = QDwTall<kVnni, kRows>;
  Col w[kCols];
  __m512i wsum = _mm512_setzero_si512();
#pragma GCC unroll 5
  for (size_t q = 0; q < kCols; ++q) {
    w[q] = dw_tall_wcol<kVnni, kRows, kTail>(t.w + q * t.w_col + j, t.w_row, io);
    wsum = dw_tall_zp_wsum<kVnni, kRows>(wsum, w[q], io);
  }
  const QDwStage<kTail> out(p, j, io, wsum);
  const size_t ob = io.u8 ? 1 : sizeof(float);
  const size_t xc = t.dw * t.x_pix, xs = t.sw * t.x_pix;
  for (size_t row = 0; row < t.m; ++row) {
    const uint8_t* x0 = t.x + row * t.x_next + j;
    char* y0 = static_cast<char*>(y) + (row * n * c + j) * ob;
    // Edge pixels: a padding column is the zero point in every slot (its products cancel
    // against the accumulator's zp * sum(w)).
    auto edge = [&](size_t i) {
      const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
      __m512i acc = out.init;
#pragma GCC unroll 5
      for (size_t q = 0; q < kCols; ++q) {
        const std::ptrdiff_t col = ix + static_cast<std::ptrdiff_t>(q * t.dw);
        const Col xq = dw_column_in(t, col) ? dw_tall_col<kVnni, kRows, kTail>(x0 + static_cast<size_t>(col) * t.x_pix, t.x_row, io)
                                            : dw_tall_pad<kVnni, kRows>(io);
        acc = dw_tall_dot<kVnni, kRows>(acc, xq, w[q]);
      }
      out.store(acc, y0 + i * c * ob);
    };
    for (size_t i = 0; i < in.lo; ++i) edge(i);
    if (in.lo < in.hi) {
      const uint8_t* xp = x0 + static_cast<size_t>(t.ix0 + static_cast<std::ptrdiff_t>(in.lo * t.sw)) * t.x_pix;
      char* yp = y0 + in.lo * c * ob;
      Col x[kCols];
#pragma GCC unroll 5
      for (size_t q = 0; q < kCols; ++q) x[q] = dw_tall_col<kVnni, kRows, kTail>(xp + q * xc, t.x_row, io);
      for (size_t i = in.lo;;) {
        __m512i acc = out.init;
#pragma GCC unroll 5
        for (size_t q = 0; q < kCols; ++q) acc = dw_tall_dot<kVnni, kRows>(acc, x[q], w[q]);
        out.store(acc, yp);
        if (++i == in.hi) break;
        xp += xs;
        yp += c * ob;
#pragma GCC unroll 5
        for (size_t q = 0; q < kCols; ++q) {
          if (q + kShift < kCols) {
            x[q] = x[q + kShift];
          } else {
            x[q] = dw_tall_col<kVnni, kRows, kTail>(xp + q * xc, t.x_row, io);
          }
        }
      }
    }
    for (size_t i = in.hi; i < n; ++i) edge(i);
  }
}

// Any window (also none: rows 0): 4-row groups x columns, the weight columns spread once into
// a stack buffer when they fit, else again per pixel; every column checked against the input.
template <bool kVnni, bool kTail>
void qu8_dw_block_generic(size_t n, size_t c, const QDwTaps& taps, const QDwParams& p, void* y, size_t j,
                          const QDwLanes<kTail>& lanes) {
  const QDwTaps t = taps;  // local copies, as in qu8_dw_block
  const QDwLanes<kTail> io = lanes;
  constexpr size_t kCached = 16;
  const size_t groups = (t.rows + 3) / 4, cols = t.cols;
  const bool cached = groups * cols <= kCached;
  QDwCol<kVnni> wbuf[kCached];
  auto wcol = [&](size_t g, size_t q) {
    const size_t rows = t.rows - 4 * g < 4 ? t.rows - 4 * g : 4;
    return dw_wcol<kVnni, 0, kTail>(t.w + 4 * g * t.w_row + q * t.w_col + j, rows, t.w_row, io);
  };
  __m512i wsum = _mm512_setzero_si512();
  for (size_t g = 0; g < groups; ++g) {
    for (size_t q = 0; q < cols; ++q) {
      const QDwCol<kVnni> wc = wcol(g, q);
      if (cached) wbuf[g * cols + q] = wc;
      wsum = dw_zp_wsum<kVnni>(wsum, wc, io);
    }
  }
  const QDwStage<kTail> out(p, j, io, wsum);
  const size_t ob = io.u8 ? 1 : sizeof(float);
  for (size_t k = 0; k < t.m * n; ++k) {  // pixel i of output row k / n
    const size_t i = k % n;
    const uint8_t* x0 = t.x + (k / n) * t.x_next + j;
    const std::ptrdiff_t ix = t.ix0 + static_cast<std::ptrdiff_t>(i * t.sw);
    __m512i acc = out.init;
    for (size_t g = 0; g < groups; ++g) {
      const size_t rows = t.rows - 4 * g < 4 ? t.rows - 4 * g : 4;
      for (size_t q = 0; q < cols; ++q) {
        const std::ptrdiff_t col = ix + static_cast<std::ptrdiff_t>(q * t.dw);
        const QDwCol<kVnni> xc =
            dw_column_in(t, col)
                ? dw_col<kVnni, 0, kTail>(x0 + 4 * g * t.x_row + static_cast<size_t>(col) * t.x_pix, rows, t.x_row, io)
                : dw_pad<kVnni>(io);
        acc = dw_dot<kVnni>(acc, xc, cached ? wbuf[g * cols + q] : wcol(g, q));
      }
    }
    out.store(acc, static_cast<char*>(y) + (k * c + j) * ob);
  }
}

// kCols columns of kRows rows; consecutive windows share columns at a stride of one or two
// window columns (sw == dw or 2 dw).
template <bool kVnni, size_t kRows, size_t kCols, bool kTail>
void qu8_dw_shape(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y, size_t j,
                  const QDwLanes<kTail>& io, DwInterior in) {
  if constexpr (kCols >= 3 && kRows > 1) {  // a 3x3 or 5x5 layer's rows (its top and bottom ones too)
    if (t.sw == t.dw) return qu8_dw_block<kVnni, kRows, kCols, 1, kTail>(n, c, t, p, y, j, io, in);
    if (t.sw == 2 * t.dw) return qu8_dw_block<kVnni, kRows, kCols, 2, kTail>(n, c, t, p, y, j, io, in);
  }
  qu8_dw_block<kVnni, kRows, kCols, kCols, kTail>(n, c, t, p, y, j, io, in);
}

// Windows of up to 3 x 3 taps (a 3x3 layer's top, middle and bottom rows) and the rows of a 5x5
// layer get a kernel of their shape.
template <bool kVnni, bool kTail>
void qu8_dw_lanes(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y, size_t j,
                  const QDwLanes<kTail>& io, DwInterior in) {
  const size_t shape = t.rows <= 5 && t.cols <= 5 ? t.rows * 8 + t.cols : 0;
  switch (shape) {
#define FNN_QU8_DW_CASE(R, C) \
  case R * 8 + C:             \
    return qu8_dw_shape<kVnni, R, C, kTail>(n, c, t, p, y, j, io, in);
    FNN_QU8_DW_CASE(1, 1) FNN_QU8_DW_CASE(1, 2) FNN_QU8_DW_CASE(1, 3)
    FNN_QU8_DW_CASE(2, 1) FNN_QU8_DW_CASE(2, 2) FNN_QU8_DW_CASE(2, 3)
    FNN_QU8_DW_CASE(3, 1) FNN_QU8_DW_CASE(3, 2) FNN_QU8_DW_CASE(3, 3)
    FNN_QU8_DW_CASE(3, 5) FNN_QU8_DW_CASE(4, 5) FNN_QU8_DW_CASE(5, 5)
#undef FNN_QU8_DW_CASE
    default:
      return qu8_dw_block_generic<kVnni, kTail>(n, c, t, p, y, j, io);
  }
}

template <bool kVnni>
void qu8_dwconv_avx512(size_t n, size_t c, const QDwTaps& t, const QDwParams& p, void* y) {
  if (n == 0) return;
  const __m512i spread = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(0x01010101));
  const DwInterior in = dw_interior(n, t);
  size_t j = 0;
  const __m512i zp = kVnni ? _mm512_set1_epi8(static_cast<char>(p.a_zero_point))
                          : _mm512_set1_epi16(static_cast<int16_t>(p.a_zero_point));
  const QDwLanes<false> whole(p, _cvtu32_mask16(0xFFFFu), spread, zp);
  for (; j + 16 <= c; j += 16) qu8_dw_lanes<kVnni, false>(n, c, t, p, y, j, whole, in);
  if (j < c) {
    const QDwLanes<true> tail(p, _cvtu32_mask16((1u << (c - j)) - 1u), spread, zp);
    qu8_dw_lanes<kVnni, true>(n, c, t, p, y, j, tail, in);
  }
}

}  // namespace
}  // namespace fnn
