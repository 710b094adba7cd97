#include "runtime/conv_step.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/gemm/gemm.h"
#include "runtime/thread_pool.h"

namespace fnn {
namespace {

uint8_t quantize_bound(float v, const TensorInfo& t) {
  if (!(v > -std::numeric_limits<float>::infinity())) return 0;
  if (!(v < std::numeric_limits<float>::infinity())) return 255;
  const float q = std::nearbyint(v / t.scale) + static_cast<float>(t.zero_point);
  return static_cast<uint8_t>(std::min(255.f, std::max(0.f, q)));
}

template <typename Fn>
void run_tasks(size_t tasks, const Fn& fn) {
  if (tasks <= 1) {
    fn(size_t{0});
  } else {
    global_thread_pool()->parallel_for(tasks, [&](size_t t) { fn(t); });
  }
}

}  // namespace

void finish_int8_clamp(const Step& s, const TensorInfo& out, void* y, size_t rows, size_t cols,
                       size_t ldy) {
  const bool lo_left = s.lo > -std::numeric_limits<float>::infinity() && s.lo != 0.0f;
  const bool hi_left = s.hi < std::numeric_limits<float>::infinity();
  if (!lo_left && !hi_left) return;
  if (out.dtype == DType::kU8) {
    // Quantizing commutes with a clamp: clamp the u8 values at the quantized bounds.
    const uint8_t lo = quantize_bound(s.lo, out), hi = quantize_bound(s.hi, out);
    auto* q = static_cast<uint8_t*>(y);
    for (size_t r = 0; r < rows; ++r) clamp_u8(cols, q + r * ldy, q + r * ldy, lo, hi);
    return;
  }
  auto* f = static_cast<float*>(y);
  for (size_t r = 0; r < rows; ++r) clamp_f32(cols, f + r * ldy, f + r * ldy, s.lo, s.hi);
}

void run_conv_step(const Program& program, const Step& s, size_t batch, size_t threads,
                   const void* x, void* y, char* scratch) {
  const TensorInfo& out = program.tensors()[s.out];
  Conv2dGeometry g = s.conv;
  g.n = batch;
  const size_t pixels = batch * g.oh * g.ow;
  const size_t cg = g.c / g.groups, ocg = g.oc / g.groups;
  const size_t k = g.kh * g.kw * cg;
  const bool int8 = Program::is_int8_gemm(s);
  const size_t out_bytes = out.elem_bytes();
  const Activation act{s.lo, s.hi};
  if (Program::conv_is_pointwise(s) && !s.pool_fused) {
    if (int8) {
      gemm_int8(x, pixels, k, *s.packed[0], y, g.oc, s.qargs, &s.qcolumns[0]);
      finish_int8_clamp(s, out, y, pixels, g.oc, g.oc);
    } else {
      gemm_float(static_cast<const float*>(x), pixels, k, *s.packed[0], static_cast<float*>(y),
                 g.oc, act, false);
    }
    return;
  }
  const size_t slot = program.conv_slot_bytes(s);
  const size_t col_bytes = Program::conv_col_bytes(s);
  const auto pad = static_cast<uint8_t>(s.a_zero_point);
  // Conv output pixels [p0, p0 + rows) into dst (row stride g.oc), every group.
  auto conv_tile = [&](char* col, size_t p0, size_t rows, char* dst) {
    for (size_t grp = 0; grp < g.groups; ++grp) {
      char* d = dst + grp * ocg * out_bytes;
      if (int8) {
        auto* qcol = reinterpret_cast<uint8_t*>(col);
        im2col_nhwc(g, static_cast<const uint8_t*>(x), p0, rows, grp, pad, qcol, k);
        gemm_int8(qcol, rows, k, *s.packed[grp], d, g.oc, s.qargs, &s.qcolumns[grp]);
        finish_int8_clamp(s, out, d, rows, ocg, g.oc);
      } else {
        auto* fcol = reinterpret_cast<float*>(col);
        im2col_nhwc(g, static_cast<const float*>(x), p0, rows, grp, fcol, k);
        gemm_float(fcol, rows, k, *s.packed[grp], reinterpret_cast<float*>(d), g.oc, act, false);
      }
    }
  };
  if (!s.pool_fused) {
    // Equal tiles, a whole number per task: 196 pixels on 2 threads are 4 tiles of 49, not
    // 64 + 64 + 64 + 4 with one thread doing 128 rows and the other 68.
    const size_t min_tiles = (pixels + Program::kConvTileRows - 1) / Program::kConvTileRows;
    const size_t tasks = std::min(threads, std::max<size_t>(1, min_tiles));
    const size_t tiles = (min_tiles + tasks - 1) / tasks * tasks;
    const size_t rows_per_tile = (pixels + tiles - 1) / tiles;
    run_tasks(tasks, [&](size_t t) {
      char* col = scratch + t * slot;
      for (size_t tile = t; tile < tiles; tile += tasks) {
        const size_t p0 = tile * rows_per_tile;
        if (p0 >= pixels) break;
        conv_tile(col, p0, std::min(rows_per_tile, pixels - p0),
                  static_cast<char*>(y) + p0 * g.oc * out_bytes);
      }
    });
    return;
  }
  // Fused max-pool: a unit is one pool output row (image b, row py) and the band of conv rows
  // under it; each task takes a contiguous range of units, a tile up to units_per_tile of
  // them within one image.
  const Pool2dGeometry& pg = s.pool;
  const size_t units = batch * pg.oh, unit_px = Program::pool_unit_pixels(s);
  const size_t per_tile = Program::pool_units_per_tile(s);
  const size_t tasks = std::min(threads, units);
  run_tasks(tasks, [&](size_t t) {
    char* col = scratch + t * slot;
    char* conv_out = col + col_bytes;
    const size_t u1 = units * (t + 1) / tasks;
    for (size_t u = units * t / tasks; u < u1;) {
      const size_t b = u / pg.oh, py = u % pg.oh;
      const size_t n = std::min({per_tile, u1 - u, pg.oh - py});
      conv_tile(col, (b * g.oh + py * pg.kh) * g.ow, n * unit_px, conv_out);
      Pool2dGeometry tile = pg;
      tile.n = 1;
      tile.h = n * pg.kh;
      tile.oh = n;
      char* dst = static_cast<char*>(y) + (b * pg.oh + py) * pg.ow * g.oc * out_bytes;
      if (out.dtype == DType::kU8) {
        maxpool2d_nhwc(tile, reinterpret_cast<const uint8_t*>(conv_out),
                       reinterpret_cast<uint8_t*>(dst), 0, n * pg.ow);
      } else {
        maxpool2d_nhwc(tile, reinterpret_cast<const float*>(conv_out),
                       reinterpret_cast<float*>(dst), 0, n * pg.ow);
      }
      u += n;
    }
  });
}

}  // namespace fnn
