// Portable NHWC conv / pool helpers. Built without -m flags (baseline x86-64 and ARM), so the
// hot loops are plain loops over the contiguous channel dimension that GCC vectorizes at -O3.
// Nothing here allocates: these run inside the runtime's zero-allocation steady state.
#include "kernels/conv/conv_nhwc.h"

#include "kernels/conv/dwconv_config.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace fnn {
namespace {

using idx = std::ptrdiff_t;  // signed: window origins go negative inside the padding

// Four floats / int lanes (GCC and Clang vector extensions: SSE2 on x86-64, NEON on arm64).
typedef float V4f __attribute__((vector_size(16)));
typedef int32_t V4i __attribute__((vector_size(16)));

// Walks output pixels p0, p0+1, ... without a division per pixel.
struct PixelCursor {
  size_t b, oy, ox, oh, ow;
  PixelCursor(size_t p, size_t oh_, size_t ow_) : oh(oh_), ow(ow_) {
    b = p / (oh * ow);
    const size_t r = p - b * oh * ow;
    oy = r / ow;
    ox = r - oy * ow;
  }
  void next() {
    if (++ox < ow) return;
    ox = 0;
    if (++oy < oh) return;
    oy = 0;
    ++b;
  }
};

// First and one-past-last tap t in [0, k) with 0 <= origin + t * dil < extent.
// Overflow: check_program caps every extent, kernel size, stride, dilation and pad at 2^24
// and the output extent at what the input and padding can produce, so |origin| =
// |o * stride - pad| < 2^49 and every sum below stays under 2^50: no signed overflow,
// with no per-pixel check.
inline void tap_range(idx origin, size_t k, size_t dil, size_t extent, size_t* t0, size_t* t1) {
  const idx d = static_cast<idx>(dil), e = static_cast<idx>(extent), kk = static_cast<idx>(k);
  idx lo = origin < 0 ? (-origin + d - 1) / d : 0;
  idx hi = e > origin ? (e - origin + d - 1) / d : 0;
  if (hi > kk) hi = kk;
  if (lo > hi) lo = hi;
  *t0 = static_cast<size_t>(lo);
  *t1 = static_cast<size_t>(hi);
}

// fn(tap, offset) for each tap of output pixel pc's window that falls inside the input:
// tap = ky * kw + kx, offset = the input pixel's index (b, iy, ix) in pixels.
template <typename Fn>
inline void for_each_conv_tap(const Conv2dGeometry& g, const PixelCursor& pc, const Fn& fn) {
  const idx iy0 = static_cast<idx>(pc.oy * g.sh) - static_cast<idx>(g.pad_top);
  const idx ix0 = static_cast<idx>(pc.ox * g.sw) - static_cast<idx>(g.pad_left);
  size_t ky0, ky1, kx0, kx1;
  tap_range(iy0, g.kh, g.dh, g.h, &ky0, &ky1);
  tap_range(ix0, g.kw, g.dw, g.w, &kx0, &kx1);
  for (size_t ky = ky0; ky < ky1; ++ky) {
    const size_t iy = static_cast<size_t>(iy0 + static_cast<idx>(ky * g.dh));
    for (size_t kx = kx0; kx < kx1; ++kx) {
      const size_t ix = static_cast<size_t>(ix0 + static_cast<idx>(kx * g.dw));
      fn(ky * g.kw + kx, (pc.b * g.h + iy) * g.w + ix);
    }
  }
}

// The taps of pool output pixel pc's window inside the input: rows [ky0, ky1) and columns
// [kx0, kx1) from the window's origin (iy0, ix0).
struct PoolWindow {
  idx iy0, ix0;
  size_t ky0, ky1, kx0, kx1;
  PoolWindow(const Pool2dGeometry& g, const PixelCursor& pc)
      : iy0(static_cast<idx>(pc.oy * g.sh) - static_cast<idx>(g.pad_top)),
        ix0(static_cast<idx>(pc.ox * g.sw) - static_cast<idx>(g.pad_left)) {
    tap_range(iy0, g.kh, 1, g.h, &ky0, &ky1);
    tap_range(ix0, g.kw, 1, g.w, &kx0, &kx1);
  }
};

inline void add_acc(size_t c, const float* __restrict x, float* __restrict s) {
  for (size_t ch = 0; ch < c; ++ch) s[ch] += x[ch];
}

inline void scale_row(size_t c, float* y, float s) {
  for (size_t ch = 0; ch < c; ++ch) y[ch] *= s;
}

// Pooling shares everything but the reduction: the first real tap seeds y (so padding never
// enters a max), the others fold in with `Acc`, and `finish` sees the real tap count.
template <typename T, typename Acc, typename Finish>
void pool2d(const Pool2dGeometry& g, const T* __restrict x, T* __restrict y, size_t p0,
            size_t rows, Acc acc, Finish finish) {
  const size_t c = g.c;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows; ++r, pc.next()) {
    const PoolWindow win(g, pc);
    const idx iy0 = win.iy0, ix0 = win.ix0;
    const size_t ky0 = win.ky0, ky1 = win.ky1, kx0 = win.kx0, kx1 = win.kx1;
    T* yr = y + (p0 + r) * c;
    const T* xb = x + pc.b * g.h * g.w * c;
    bool first = true;
    for (size_t ky = ky0; ky < ky1; ++ky) {
      const T* xrow = xb + static_cast<size_t>(iy0 + static_cast<idx>(ky)) * g.w * c;
      for (size_t kx = kx0; kx < kx1; ++kx) {
        const T* xp = xrow + static_cast<size_t>(ix0 + static_cast<idx>(kx)) * c;
        if (first) {
          std::memcpy(yr, xp, c * sizeof(T));
          first = false;
        } else {
          acc(c, xp, yr);
        }
      }
    }
    finish(c, yr, (ky1 - ky0) * (kx1 - kx0));
  }
}

// Max-pool: per 64 bytes of channels (four 16-byte vectors; then single vectors, then single
// channels) the running max stays in registers over the whole window, one store per output pixel instead of one per tap, in the
// order, and so with the NaN handling, of a plain m = m < x ? x : m over the taps.
template <typename T>
void maxpool2d(const Pool2dGeometry& g, const T* __restrict x, T* __restrict y, size_t p0, size_t rows) {
  typedef T V __attribute__((vector_size(16)));
  constexpr size_t kLanes = sizeof(V) / sizeof(T), kBlock = 4 * kLanes;
  const size_t c = g.c, row_elems = g.w * c;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows; ++r, pc.next()) {
    const PoolWindow win(g, pc);
    const size_t nky = win.ky1 - win.ky0, nkx = win.kx1 - win.kx0;
    if (nky == 0 || nkx == 0) continue;  // a window wholly in the padding: nothing to read
    T* yr = y + (p0 + r) * c;
    const T* first = x + pc.b * g.h * row_elems +
                     static_cast<size_t>(win.iy0 + static_cast<idx>(win.ky0)) * row_elems +
                     static_cast<size_t>(win.ix0 + static_cast<idx>(win.kx0)) * c;
    size_t ch = 0;
    auto load = [](const T* p) {
      V v;
      std::memcpy(&v, p, sizeof(v));
      return v;
    };
    auto fold = [](V m, V v) { return m < v ? v : m; };
    for (; ch + kBlock <= c; ch += kBlock) {
      const T* f = first + ch;
      V m0 = load(f), m1 = load(f + kLanes), m2 = load(f + 2 * kLanes), m3 = load(f + 3 * kLanes);
      for (size_t ky = 0; ky < nky; ++ky) {
        for (size_t kx = ky == 0 ? 1 : 0; kx < nkx; ++kx) {
          const T* xp = f + ky * row_elems + kx * c;
          m0 = fold(m0, load(xp));
          m1 = fold(m1, load(xp + kLanes));
          m2 = fold(m2, load(xp + 2 * kLanes));
          m3 = fold(m3, load(xp + 3 * kLanes));
        }
      }
      std::memcpy(yr + ch, &m0, sizeof(V));
      std::memcpy(yr + ch + kLanes, &m1, sizeof(V));
      std::memcpy(yr + ch + 2 * kLanes, &m2, sizeof(V));
      std::memcpy(yr + ch + 3 * kLanes, &m3, sizeof(V));
    }
    for (; ch + kLanes <= c; ch += kLanes) {
      const T* f = first + ch;
      V m0 = load(f);
      for (size_t ky = 0; ky < nky; ++ky) {
        for (size_t kx = ky == 0 ? 1 : 0; kx < nkx; ++kx) m0 = fold(m0, load(f + ky * row_elems + kx * c));
      }
      std::memcpy(yr + ch, &m0, sizeof(V));
    }
    for (; ch < c; ++ch) {
      T m = first[ch];
      for (size_t ky = 0; ky < nky; ++ky) {
        for (size_t kx = ky == 0 ? 1 : 0; kx < nkx; ++kx) {
          const T v = first[ky * row_elems + kx * c + ch];
          m = m < v ? v : m;
        }
      }
      yr[ch] = m;
    }
  }
}

// One batch item: src is [rows][cols], dst is [cols][rows]. Tiles keep both the strided reads
// and the contiguous writes inside L1 instead of striding through a whole feature map.
void transpose_2d(size_t rows, size_t cols, const float* __restrict src, float* __restrict dst) {
  constexpr size_t kTile = 32;
  for (size_t r0 = 0; r0 < rows; r0 += kTile) {
    const size_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
    for (size_t c0 = 0; c0 < cols; c0 += kTile) {
      const size_t c1 = c0 + kTile < cols ? c0 + kTile : cols;
      for (size_t j = c0; j < c1; ++j) {
        float* d = dst + j * rows;
        for (size_t i = r0; i < r1; ++i) d[i] = src[i * cols + j];
      }
    }
  }
}

// A few rows (an RGB image's channels): one pass over the columns with the rows unrolled;
// the tiled loop would spend its time on loop overhead around 3-element runs.
template <size_t R>
void transpose_few_rows(size_t cols, const float* __restrict src, float* __restrict dst) {
  for (size_t j = 0; j < cols; ++j) {
    for (size_t i = 0; i < R; ++i) dst[j * R + i] = src[i * cols + j];
  }
}

void transpose_batched(size_t n, size_t rows, size_t cols, const float* x, float* y) {
  const size_t plane = rows * cols;
  if (rows == 1 || cols == 1) {  // a vector is its own transpose
    std::memcpy(y, x, n * plane * sizeof(float));
    return;
  }
  for (size_t b = 0; b < n; ++b) {
    const float* src = x + b * plane;
    float* dst = y + b * plane;
    switch (rows) {
      case 2: transpose_few_rows<2>(cols, src, dst); break;
      case 3: transpose_few_rows<3>(cols, src, dst); break;
      case 4: transpose_few_rows<4>(cols, src, dst); break;
      default: transpose_2d(rows, cols, src, dst);
    }
  }
}

// dst and src never overlap. A patch row of a 3x3 conv is 3 x channels values — 3 bytes
// to a few hundred: memcpy with a run-time length is a library call per row, which
// dominated im2col there, so copies up to 128 bytes are two overlapping fixed-size moves.
__attribute__((always_inline)) inline void copy_bytes(void* dst, const void* src, size_t n) {
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  if (n > 128) {
    std::memcpy(d, s, n);
  } else if (n > 64) {
    std::memcpy(d, s, 64);
    std::memcpy(d + n - 64, s + n - 64, 64);
  } else if (n > 32) {
    std::memcpy(d, s, 32);
    std::memcpy(d + n - 32, s + n - 32, 32);
  } else if (n >= 16) {
    std::memcpy(d, s, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else if (n >= 2) {
    std::memcpy(d, s, 2);
    std::memcpy(d + n - 2, s + n - 2, 2);
  } else if (n == 1) {
    *d = *s;
  }
}

// Padding taps are `pad` (0 for floats, the zero point for u8). Works a segment of one
// output row at a time: which patch rows fall in the padding is the same for the whole
// segment, and pixels whose patch lies inside horizontally copy without per-tap checks.
// The pixels of a row segment whose patches lie inside horizontally (one group, dw == 1):
// per patch row one copy of kBytes (0: `bytes`, known at run time). A fixed size turns each
// copy into a couple of moves; the run-time size's branch chain cost ~4 ns per pixel on a
// 3x3 conv over one channel.
template <size_t kBytes, typename T>
void copy_interior(const T* x_first, size_t x_px_step, size_t x_row_step, size_t n_px,
                   size_t n_rows, size_t bytes, size_t lead, size_t trail, T pad, T* d,
                   size_t ld) {
  const size_t n = kBytes != 0 ? kBytes : bytes;
  for (size_t j = 0; j < n_px; ++j, d += ld, x_first += x_px_step) {
    T* o = d;
    for (size_t e = 0; e < lead; ++e) o[e] = pad;
    o += lead;
    const T* xs = x_first;
    for (size_t ky = 0; ky < n_rows; ++ky, xs += x_row_step) {
      if (kBytes != 0) {
        std::memcpy(o, xs, kBytes);
      } else {
        copy_bytes(o, xs, n);
      }
      o += n / sizeof(T);
    }
    for (size_t e = 0; e < trail; ++e) o[e] = pad;
  }
}

template <typename T>
void im2col(const Conv2dGeometry& g, const T* x, size_t p0, size_t rows, size_t group, T pad,
            T* dst, size_t ld) {
  // Geometry in locals: stores through a u8 `dst` may alias anything as far as the compiler
  // knows, so fields read through `g` would be reloaded at every tap.
  const size_t c = g.c, cg = c / g.groups, cbase = group * cg;
  const size_t kh = g.kh, kw = g.kw, dh = g.dh, dw = g.dw, h = g.h, w = g.w;
  const size_t sw = g.sw, pad_left = g.pad_left;
  const size_t patch_row = kw * cg, row_elems = w * c;
  // With dw == 1 and one group, the kw taps of a patch row are kw * c adjacent input values.
  const bool row_runs = g.groups == 1 && dw == 1;
  // Output columns [ox_lo, ox_hi) have every tap inside the input horizontally.
  const size_t ox_lo = (pad_left + sw - 1) / sw;
  const idx last_origin = static_cast<idx>(w) - 1 + static_cast<idx>(pad_left) -
                          static_cast<idx>((kw - 1) * dw);
  const size_t ox_hi = last_origin < 0 ? 0 : static_cast<size_t>(last_origin) / sw + 1;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows;) {
    const size_t seg = std::min(rows - r, pc.ow - pc.ox);
    const T* xb = x + pc.b * h * row_elems + cbase;
    const idx iy0 = static_cast<idx>(pc.oy * g.sh) - static_cast<idx>(g.pad_top);
    size_t ky0, ky1;  // patch rows inside the input
    tap_range(iy0, kh, dh, h, &ky0, &ky1);
    // No patch row inside (a window wholly in the padding): nothing is read, and x_top must
    // not point far outside the input either (pointer arithmetic past an object is UB).
    const T* x_top =
        ky1 > ky0 ? xb + static_cast<size_t>(iy0 + static_cast<idx>(ky0 * dh)) * row_elems : xb;
    const size_t x_step = dh * row_elems;
    const size_t lead = ky0 * patch_row, trail = (kh - ky1) * patch_row;
    // Interior pixels [j_lo, j_hi) of the segment take the fast path.
    size_t j_lo = seg, j_hi = seg;
    if (row_runs && ox_lo < ox_hi) {
      j_lo = std::min(seg, ox_lo > pc.ox ? ox_lo - pc.ox : 0);
      j_hi = std::max(j_lo, std::min(seg, ox_hi > pc.ox ? ox_hi - pc.ox : 0));
    }
    if (j_hi > j_lo) {
      const size_t ix = (pc.ox + j_lo) * sw - pad_left;
      const T* xf = x_top + ix * c;
      const size_t bytes = patch_row * sizeof(T), nr = ky1 - ky0;
      T* d = dst + (r + j_lo) * ld;
      const size_t step = sw * c;
      switch (bytes) {
        case 3: copy_interior<3>(xf, step, x_step, j_hi - j_lo, nr, bytes, lead, trail, pad, d, ld); break;
        case 12: copy_interior<12>(xf, step, x_step, j_hi - j_lo, nr, bytes, lead, trail, pad, d, ld); break;
        default: copy_interior<0>(xf, step, x_step, j_hi - j_lo, nr, bytes, lead, trail, pad, d, ld); break;
      }
    }
    for (size_t j = 0; j < seg; ++j) {
      if (j == j_lo) j = j_hi;
      if (j >= seg) break;
      const size_t ox = pc.ox + j;
      const idx ix0 = static_cast<idx>(ox * sw) - static_cast<idx>(pad_left);
      T* d = dst + (r + j) * ld;
      for (size_t e = 0; e < lead; ++e) d[e] = pad;
      d += lead;
      const T* xrow = x_top;
      for (size_t ky = ky0; ky < ky1; ++ky, xrow += x_step) {
        for (size_t kx = 0; kx < kw; ++kx, d += cg) {
          const idx ix = ix0 + static_cast<idx>(kx * dw);
          if (ix < 0 || ix >= static_cast<idx>(w)) {
            for (size_t e = 0; e < cg; ++e) d[e] = pad;
          } else {
            copy_bytes(d, xrow + static_cast<size_t>(ix) * c, cg * sizeof(T));
          }
        }
      }
      for (size_t e = 0; e < trail; ++e) d[e] = pad;
    }
    r += seg;
    pc.ox += seg - 1;
    pc.next();
  }
}

}  // namespace

void im2col_nhwc(const Conv2dGeometry& g, const float* x, size_t p0, size_t rows, size_t group,
                 float* dst, size_t ld) {
  im2col<float>(g, x, p0, rows, group, 0.0f, dst, ld);
}

void im2col_nhwc(const Conv2dGeometry& g, const uint8_t* x, size_t p0, size_t rows,
                 size_t group, uint8_t pad, uint8_t* dst, size_t ld) {
  im2col<uint8_t>(g, x, p0, rows, group, pad, dst, ld);
}

void col2im_nhwc(const Conv2dGeometry& g, const float* src, size_t p0, size_t rows, size_t group,
                 size_t ld, float* dx) {
  const size_t c = g.c, cg = c / g.groups, cbase = group * cg;
  const size_t kw = g.kw, dh = g.dh, dw = g.dw, h = g.h, w = g.w;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows; ++r, pc.next()) {
    const idx iy0 = static_cast<idx>(pc.oy * g.sh) - static_cast<idx>(g.pad_top);
    const idx ix0 = static_cast<idx>(pc.ox * g.sw) - static_cast<idx>(g.pad_left);
    size_t ky0, ky1, kx0, kx1;
    tap_range(iy0, g.kh, dh, h, &ky0, &ky1);
    tap_range(ix0, kw, dw, w, &kx0, &kx1);
    const float* srow = src + r * ld;
    for (size_t ky = ky0; ky < ky1; ++ky) {
      const size_t iy = static_cast<size_t>(iy0 + static_cast<idx>(ky * dh));
      float* drow = dx + (pc.b * h + iy) * w * c + cbase;
      for (size_t kx = kx0; kx < kx1; ++kx) {
        const size_t ix = static_cast<size_t>(ix0 + static_cast<idx>(kx * dw));
        float* __restrict d = drow + ix * c;
        const float* __restrict s = srow + (ky * kw + kx) * cg;
        for (size_t e = 0; e < cg; ++e) d[e] += s[e];
      }
    }
  }
}

void sum_rows_nhwc(size_t pixels, size_t c, const float* dy, float* db) {
  constexpr size_t kBlock = 64;
  for (size_t c0 = 0; c0 < c; c0 += kBlock) {
    const size_t cb = c - c0 < kBlock ? c - c0 : kBlock;
    double acc[kBlock] = {};
    for (size_t p = 0; p < pixels; ++p) {
      const float* row = dy + p * c + c0;
      for (size_t j = 0; j < cb; ++j) acc[j] += static_cast<double>(row[j]);
    }
    for (size_t j = 0; j < cb; ++j) db[c0 + j] = static_cast<float>(acc[j]);
  }
}

void maxpool2d_backward_nhwc(const Pool2dGeometry& g, const float* x, const float* y,
                             const float* dy, float* dx, size_t b0, size_t b1, float lo, float hi,
                             float* found) {
  const size_t c = g.c, plane = g.h * g.w * c;
  // Windows that tile the input (stride = kernel, no padding) touch each input once: every
  // covered dx value is written, not accumulated, and only the uncovered edge is zeroed.
  const bool tiled = g.sh == g.kh && g.sw == g.kw && g.pad_top == 0 && g.pad_left == 0;
  if (tiled) {
    const size_t ch = g.oh * g.kh, cw = g.ow * g.kw;
    for (size_t b = b0; b < b1; ++b) {
      float* img = dx + b * plane;
      for (size_t r = 0; r < ch; ++r) std::fill(img + (r * g.w + cw) * c, img + (r + 1) * g.w * c, 0.f);
      std::fill(img + ch * g.w * c, img + plane, 0.f);
    }
  } else {
    std::fill(dx + b0 * plane, dx + b1 * plane, 0.f);
  }
  const size_t p0 = b0 * g.oh * g.ow, p1 = b1 * g.oh * g.ow;
  if (tiled && g.kh == 2 && g.kw == 2) {
    // The common 2x2 / 2 pool: the four taps of a channel side by side, in registers.
    PixelCursor pc(p0, g.oh, g.ow);
    for (size_t p = p0; p < p1; ++p, pc.next()) {
      const size_t off = ((pc.b * g.h + pc.oy * 2) * g.w + pc.ox * 2) * c;
      const float* __restrict x0 = x + off;
      const float* __restrict x1 = x0 + c;
      const float* __restrict x2 = x0 + g.w * c;
      const float* __restrict x3 = x2 + c;
      float* __restrict d0 = dx + off;
      float* __restrict d1 = d0 + c;
      float* __restrict d2 = d0 + g.w * c;
      float* __restrict d3 = d2 + c;
      const float* __restrict yr = y + p * c;
      const float* __restrict dyr = dy + p * c;
      size_t ch = 0;
      // Four channels at a time in GCC / Clang vector types (SSE2 / NEON, no -m flags here):
      // masks, not branches — which tap holds the max is data, a coin toss for a predictor.
      for (; ch + 4 <= c; ch += 4) {
        V4f m, a0, a1, a2, a3;
        V4i g;  // dy's bits: selected by masks, never computed with
        std::memcpy(&m, yr + ch, sizeof m);
        std::memcpy(&g, dyr + ch, sizeof g);
        std::memcpy(&a0, x0 + ch, sizeof a0);
        std::memcpy(&a1, x1 + ch, sizeof a1);
        std::memcpy(&a2, x2 + ch, sizeof a2);
        std::memcpy(&a3, x3 + ch, sizeof a3);
        const V4i ok = (V4f{lo, lo, lo, lo} < m) & (m < V4f{hi, hi, hi, hi});
        const V4i gi = g & ok;
        const V4i e0 = a0 == m;
        const V4i e1 = (a1 == m) & ~e0;
        const V4i e2 = (a2 == m) & ~(e0 | e1);
        const V4i e3 = (a3 == m) & ~(e0 | e1 | e2);
        const V4i o0 = gi & e0, o1 = gi & e1, o2 = gi & e2, o3 = gi & e3;
        std::memcpy(d0 + ch, &o0, sizeof o0);
        std::memcpy(d1 + ch, &o1, sizeof o1);
        std::memcpy(d2 + ch, &o2, sizeof o2);
        std::memcpy(d3 + ch, &o3, sizeof o3);
      }
      for (; ch < c; ++ch) {
        const float m = yr[ch];
        const float grad = (lo < m) & (m < hi) ? dyr[ch] : 0.f;
        const bool e0 = x0[ch] == m, e1 = x1[ch] == m, e2 = x2[ch] == m, e3 = x3[ch] == m;
        d0[ch] = e0 ? grad : 0.f;
        d1[ch] = e1 & !e0 ? grad : 0.f;
        d2[ch] = e2 & !(e0 | e1) ? grad : 0.f;
        d3[ch] = e3 & !(e0 | e1 | e2) ? grad : 0.f;
      }
    }
    return;
  }
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t p = p0; p < p1; ++p, pc.next()) {
    const PoolWindow win(g, pc);
    const idx iy0 = win.iy0, ix0 = win.ix0;
    const size_t ky0 = win.ky0, ky1 = win.ky1, kx0 = win.kx0, kx1 = win.kx1;
    const float* __restrict yr = y + p * c;
    const float* __restrict dyr = dy + p * c;
    std::fill(found, found + c, 0.f);
    for (size_t ky = ky0; ky < ky1; ++ky) {
      const size_t row = (pc.b * g.h + static_cast<size_t>(iy0 + static_cast<idx>(ky))) * g.w;
      for (size_t kx = kx0; kx < kx1; ++kx) {
        const size_t off = (row + static_cast<size_t>(ix0 + static_cast<idx>(kx))) * c;
        const float* __restrict xp = x + off;
        float* __restrict dxp = dx + off;
        // Branch-free, so it vectorizes: the first tap equal to the max takes dy (if the max
        // also passes the clamp of an activation before the pool), later equal ones nothing.
        if (tiled) {
          for (size_t ch = 0; ch < c; ++ch) {
            const bool hit = (xp[ch] == yr[ch]) & (found[ch] == 0.f);
            const bool pass = (lo < xp[ch]) & (xp[ch] < hi);
            dxp[ch] = hit & pass ? dyr[ch] : 0.f;
            found[ch] = hit ? 1.f : found[ch];
          }
        } else {
          for (size_t ch = 0; ch < c; ++ch) {
            const bool hit = (xp[ch] == yr[ch]) & (found[ch] == 0.f);
            const bool pass = (lo < xp[ch]) & (xp[ch] < hi);
            dxp[ch] += hit & pass ? dyr[ch] : 0.f;
            found[ch] = hit ? 1.f : found[ch];
          }
        }
      }
    }
  }
}

void avgpool2d_backward_nhwc(const Pool2dGeometry& g, const float* dy, float* dx, size_t b0,
                             size_t b1) {
  const size_t c = g.c, plane = g.h * g.w * c;
  std::fill(dx + b0 * plane, dx + b1 * plane, 0.f);
  const size_t p0 = b0 * g.oh * g.ow, p1 = b1 * g.oh * g.ow;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t p = p0; p < p1; ++p, pc.next()) {
    const PoolWindow win(g, pc);
    const idx iy0 = win.iy0, ix0 = win.ix0;
    const size_t ky0 = win.ky0, ky1 = win.ky1, kx0 = win.kx0, kx1 = win.kx1;
    // The forward's scale (1 / count, as a float), applied to dy.
    const float s = 1.0f / static_cast<float>((ky1 - ky0) * (kx1 - kx0));
    const float* __restrict dyr = dy + p * c;
    for (size_t ky = ky0; ky < ky1; ++ky) {
      const size_t row = (pc.b * g.h + static_cast<size_t>(iy0 + static_cast<idx>(ky))) * g.w;
      for (size_t kx = kx0; kx < kx1; ++kx) {
        float* __restrict dxp = dx + (row + static_cast<size_t>(ix0 + static_cast<idx>(kx))) * c;
        for (size_t ch = 0; ch < c; ++ch) dxp[ch] += dyr[ch] * s;
      }
    }
  }
}

namespace {

// Output rows [lo, hi) whose windows are vertically whole inside the input.
struct FullRows {
  size_t lo, hi;
};

FullRows full_rows(const Conv2dGeometry& g) {
  const idx sh = static_cast<idx>(g.sh), pad = static_cast<idx>(g.pad_top), oh = static_cast<idx>(g.oh);
  const idx lo = std::min((pad + sh - 1) / sh, oh);
  const idx room = static_cast<idx>(g.h) - 1 + pad - static_cast<idx>((g.kh - 1) * g.dh);
  const idx hi = room < 0 ? 0 : std::min(room / sh + 1, oh);
  return FullRows{static_cast<size_t>(lo), static_cast<size_t>(std::max(lo, hi))};
}

// Calls run(r, n, taps) for output pixels p0 .. p0 + rows - 1, pixel p0 + r first, in runs
// of taps.m whole output rows of n pixels (or of one part of a row, at the ends of the range) with
// the same window rows inside the input: each top or bottom row alone, the middle rows of an
// image together. The micro-kernel clips each pixel's window columns against the input's width
// itself, so a row's edge pixels share the run (and its weights in registers) with its interior.
template <typename Taps, typename T, typename W, typename Run>
void for_each_window_run(const Conv2dGeometry& g, const T* x, const W* w, size_t p0, size_t rows,
                         const Run& run) {
  Taps taps;
  taps.x_row = g.dh * g.w * g.c;
  taps.x_pix = g.c;
  taps.w_row = g.kw * g.c;
  taps.w_col = g.c;
  taps.cols = g.kw;
  taps.x_cols = g.w;
  taps.sw = g.sw;
  taps.dw = g.dw;
  taps.x_next = g.sh * g.w * g.c;
  const FullRows full = full_rows(g);
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows;) {
    const idx iy0 = static_cast<idx>(pc.oy * g.sh) - static_cast<idx>(g.pad_top);
    size_t ky0, ky1;
    tap_range(iy0, g.kh, g.dh, g.h, &ky0, &ky1);
    const size_t n = std::min(rows - r, g.ow - pc.ox);
    size_t m = 1;
    if (pc.ox == 0 && n == g.ow && pc.oy >= full.lo && pc.oy < full.hi) {
      m = std::min(full.hi - pc.oy, (rows - r) / g.ow);  // whole middle rows of this image
    }
    taps.rows = ky1 - ky0;
    taps.m = m;
    taps.x = x;  // nothing is read without window rows: any valid pointer
    if (taps.rows != 0) {
      const size_t iy = static_cast<size_t>(iy0 + static_cast<idx>(ky0 * g.dh));
      taps.x = x + (pc.b * g.h + iy) * g.w * g.c;
    }
    taps.w = w + ky0 * g.kw * g.c;
    taps.ix0 = static_cast<idx>(pc.ox * g.sw) - static_cast<idx>(g.pad_left);
    run(r, n, taps);
    r += m * n;
    // On to the next output row after the run (or the end of the range).
    pc.oy += m - 1;
    pc.ox = g.ow - 1;
    pc.next();
  }
}

}  // namespace

void depthwise_conv2d_nhwc(const Conv2dGeometry& g, const float* x, const float* w,
                           const float* bias, float lo, float hi, float* y, size_t p0,
                           size_t rows) {
  const F32DwUkernelFn uk = dwconv_config().f32;
  for_each_window_run<F32DwTaps>(g, x, w, p0, rows, [&](size_t r, size_t n, const F32DwTaps& taps) {
    uk(n, g.c, taps, bias, lo, hi, y + (p0 + r) * g.c);
  });
}

void depthwise_conv2d_nhwc(const Conv2dGeometry& g, const uint8_t* x, const int8_t* w,
                           const QDwParams& p, void* y, size_t p0, size_t rows) {
  const QDwUkernelFn uk = dwconv_config().qu8;
  const size_t out_bytes = p.out_u8 ? 1 : sizeof(float);
  for_each_window_run<QDwTaps>(g, x, w, p0, rows, [&](size_t r, size_t n, const QDwTaps& taps) {
    uk(n, g.c, taps, p, static_cast<char*>(y) + (p0 + r) * g.c * out_bytes);
  });
}

void depthwise_multiplier_conv2d_nhwc(const Conv2dGeometry& g, const float* x, const float* wt,
                                      const float* bias, float lo, float hi, float* y, size_t p0,
                                      size_t rows) {
  const size_t c = g.c, oc = g.oc, m = oc / c;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t r = 0; r < rows; ++r, pc.next()) {
    float* __restrict yr = y + (p0 + r) * oc;
    for (size_t o = 0; o < oc; ++o) yr[o] = bias != nullptr ? bias[o] : 0.f;
    for_each_conv_tap(g, pc, [&](size_t tap, size_t pixel) {
      const float* __restrict xp = x + pixel * c;
      const float* __restrict wp = wt + tap * oc;
      for (size_t o = 0; o < oc; ++o) yr[o] += xp[o / m] * wp[o];
    });
    for (size_t o = 0; o < oc; ++o) yr[o] = std::min(std::max(yr[o], lo), hi);
  }
}

void depthwise_conv2d_backward_nhwc(const Conv2dGeometry& g, const float* x, const float* wt,
                                    const float* dy, float* dx, float* dwt, size_t b0, size_t b1) {
  const size_t c = g.c, oc = g.oc, m = oc / c;
  const size_t p0 = b0 * g.oh * g.ow, p1 = b1 * g.oh * g.ow;
  PixelCursor pc(p0, g.oh, g.ow);
  for (size_t p = p0; p < p1; ++p, pc.next()) {
    const float* __restrict dyr = dy + p * oc;
    for_each_conv_tap(g, pc, [&](size_t tap, size_t pixel) {
      const float* __restrict xp = x + pixel * c;
      float* __restrict dwp = dwt + tap * oc;
      if (m == 1) {
        for (size_t o = 0; o < oc; ++o) dwp[o] += dyr[o] * xp[o];
      } else {
        for (size_t o = 0; o < oc; ++o) dwp[o] += dyr[o] * xp[o / m];
      }
      if (dx == nullptr) return;
      float* __restrict dxp = dx + pixel * c;
      const float* __restrict wp = wt + tap * oc;
      if (m == 1) {
        for (size_t ch = 0; ch < c; ++ch) dxp[ch] += dyr[ch] * wp[ch];
      } else {
        for (size_t ch = 0; ch < c; ++ch) {
          float sum = 0.f;
          for (size_t j = 0; j < m; ++j) sum += dyr[ch * m + j] * wp[ch * m + j];
          dxp[ch] += sum;
        }
      }
    });
  }
}

void maxpool2d_nhwc(const Pool2dGeometry& g, const float* x, float* y, size_t p0, size_t rows) {
  maxpool2d(g, x, y, p0, rows);
}

void maxpool2d_nhwc(const Pool2dGeometry& g, const uint8_t* x, uint8_t* y, size_t p0,
                    size_t rows) {
  maxpool2d(g, x, y, p0, rows);
}

void avgpool2d_nhwc(const Pool2dGeometry& g, const float* x, float* y, size_t p0, size_t rows) {
  pool2d(g, x, y, p0, rows, add_acc, [](size_t c, float* yr, size_t count) {
    scale_row(c, yr, 1.0f / static_cast<float>(count));
  });
}

void global_avgpool_backward_nhwc(size_t hw, size_t c, const float* dy, float* dx, size_t b0, size_t b1) {
  const float inv = 1.0f / static_cast<float>(hw);  // the forward's 1 / hw, as a float
  for (size_t b = b0; b < b1; ++b) {
    const float* __restrict g = dy + b * c;
    for (size_t p = 0; p < hw; ++p) {
      float* __restrict d = dx + (b * hw + p) * c;
      for (size_t ch = 0; ch < c; ++ch) d[ch] = g[ch] * inv;
    }
  }
}

void global_avgpool_nhwc(size_t n, size_t hw, size_t c, const float* x, float* y) {
  // Double sums keep large maps (e.g. 112x112) accurate; a fixed channel block on the stack
  // bounds the accumulator without allocating, and still reads contiguous runs of x.
  constexpr size_t kBlock = 64;
  const double inv = 1.0 / static_cast<double>(hw);
  for (size_t b = 0; b < n; ++b) {
    const float* xb = x + b * hw * c;
    for (size_t c0 = 0; c0 < c; c0 += kBlock) {
      const size_t cb = c - c0 < kBlock ? c - c0 : kBlock;
      double acc[kBlock] = {};
      for (size_t p = 0; p < hw; ++p) {
        const float* xp = xb + p * c + c0;
        for (size_t j = 0; j < cb; ++j) acc[j] += static_cast<double>(xp[j]);
      }
      for (size_t j = 0; j < cb; ++j) y[b * c + c0 + j] = static_cast<float>(acc[j] * inv);
    }
  }
}

void global_avgpool_nhwc(size_t n, size_t hw, size_t c, const uint8_t* x, float x_scale,
                         int32_t x_zp, const QOutputStage& out, void* y) {
  constexpr size_t kBlock = 64;
  const float hwf = static_cast<float>(hw);
  const float scale = out.u8 ? x_scale / (hwf * out.scale) : x_scale / hwf;
  const float qlo = static_cast<float>(out.qmin - out.zero_point);
  const float qhi = static_cast<float>(out.qmax - out.zero_point);
  for (size_t b = 0; b < n; ++b) {
    const uint8_t* xb = x + b * hw * c;
    for (size_t c0 = 0; c0 < c; c0 += kBlock) {
      const size_t cb = c - c0 < kBlock ? c - c0 : kBlock;
      int64_t acc[kBlock] = {};  // exact: no map is large enough to overflow it
      for (size_t p = 0; p < hw; ++p) {
        const uint8_t* xp = xb + p * c + c0;
        for (size_t j = 0; j < cb; ++j) acc[j] += xp[j];
      }
      const int64_t bias = static_cast<int64_t>(hw) * x_zp;
      for (size_t j = 0; j < cb; ++j) {
        float f = static_cast<float>(acc[j] - bias) * scale;
        if (out.u8) {
          f = f > qlo ? f : qlo;
          f = f < qhi ? f : qhi;
          static_cast<uint8_t*>(y)[b * c + c0 + j] =
              static_cast<uint8_t>(static_cast<int32_t>(std::nearbyint(f)) + out.zero_point);
        } else {
          f = f > out.lo ? f : out.lo;
          static_cast<float*>(y)[b * c + c0 + j] = f < out.hi ? f : out.hi;
        }
      }
    }
  }
}

void nchw_to_nhwc(size_t n, size_t c, size_t hw, const float* x, float* y) {
  transpose_batched(n, c, hw, x, y);
}

void nhwc_to_nchw(size_t n, size_t c, size_t hw, const float* x, float* y) {
  transpose_batched(n, hw, c, x, y);
}

}  // namespace fnn
