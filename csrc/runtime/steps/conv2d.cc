#include "runtime/steps/conv2d.h"

#include <algorithm>
#include <cstdint>

#include "runtime/parallel.h"
#include "runtime/program.h"
#include "kernels/gemm/gemm_general.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "memory/scratch.h"
#include "runtime/steps/depthwise_conv2d.h"
#include "runtime/steps/int8_output.h"
#include "runtime/steps/unary.h"

namespace fnn {
namespace {

constexpr size_t kTileRows = 64;         // output pixels per im2col tile (Tiles::kFast)
constexpr size_t kCompactTileRows = 16;  // ... with Tiles::kCompact: still a few GEMM row blocks

// Reads its input directly as the GEMM's A (1x1, stride 1, no pad, one group).
bool is_pointwise(const Conv2dParams& p) {
  const Conv2dGeometry& g = p.geometry;
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.groups == 1 && g.oh == g.h && g.ow == g.w;
}

// With a fused pool a conv works in units of one pool output row: the pool-window-high band
// of conv output rows under it. Conv output pixels per unit, and units per tile (compact
// tiles hold one unit).
size_t unit_pixels(const Conv2dParams& p) { return p.pool.kh * p.geometry.ow; }
size_t units_per_tile(const Conv2dParams& p, Tiles tiles) {
  return tiles == Tiles::kCompact ? 1 : std::max<size_t>(1, kTileRows / unit_pixels(p));
}
size_t tile_rows(const Conv2dParams& p, Tiles tiles) {
  if (p.pool_fused) return units_per_tile(p, tiles) * unit_pixels(p);
  return tiles == Tiles::kCompact ? kCompactTileRows : kTileRows;
}

// Bytes of a slot's im2col part: u8 for int8 weights (their input is u8), else f32.
size_t col_bytes(const Conv2dParams& p, Tiles tiles) {
  const Conv2dGeometry& g = p.geometry;
  const size_t k = g.kh * g.kw * (g.c / g.groups);
  return (tile_rows(p, tiles) * k * (p.int8() ? 1 : sizeof(float)) + 63) / 64 * 64;
}

// One thread's scratch: an im2col tile, plus with a fused pool the conv output tile the pool
// reads.
size_t slot_bytes(const Conv2dParams& p, const TensorInfo& out, Tiles tiles) {
  size_t bytes = col_bytes(p, tiles);
  if (p.pool_fused) bytes += (tile_rows(p, tiles) * p.geometry.oc * out.elem_bytes() + 63) / 64 * 64;
  return bytes;
}

class Conv2dStep final : public Int8LayerStep<Conv2dParams> {
 public:
  const char* name() const override { return "conv2d"; }
  std::string label(const Step& s) const override {
    const auto& p = s.params_as<Conv2dParams>();
    return "conv2d" + fused_label(p.post) + (p.pool_fused ? "+maxpool2d" : "");
  }
  const char* precision(const Step& s) const override {
    return weight_kind_name(s.params_as<Conv2dParams>().weights[0]->kind());
  }
  size_t weight_bytes(const Step& s) const override {
    size_t total = 0;
    for (const auto& w : s.params_as<Conv2dParams>().weights) total += w->nbytes();
    return total;
  }
  size_t scratch_bytes(const Program& program, const Step& s, size_t threads, Tiles tiles) const override {
    const auto& p = s.params_as<Conv2dParams>();
    if (!p.pool_fused && is_pointwise(p)) return 0;
    return threads * slot_bytes(p, program.tensors()[s.out], tiles);
  }

  void check_params(const StepCheck& c, const Conv2dParams& p) const override {
    const Step& s = c.step();
    const Conv2dGeometry& g = p.geometry;
    c.inputs(1);
    c.conv_geometry(g);
    c.expect(!p.weights.empty() && p.weights[0] != nullptr, "has no packed weights");
    const size_t k = StepCheck::product({g.kh, g.kw, g.c / g.groups});
    c.expect(k != 0, "the patch size overflows");
    c.packed_gemm(p.weights, g.groups, k, g.oc / g.groups, p.input);
    c.fused_unary(p.post);
    if (!p.pool_fused) {
      c.size_is(s.out, StepCheck::product({g.oh, g.ow, g.oc}), "the output");
      return;
    }
    const Pool2dGeometry& q = p.pool;
    c.dims({q.kh, q.kw}, "fused pool window");
    c.expect(q.h == g.oh && q.w == g.ow && q.c == g.oc && q.sh == q.kh && q.sw == q.kw &&
                 q.pad_top == 0 && q.pad_left == 0 && q.oh == g.oh / q.kh && q.ow == g.ow / q.kw &&
                 q.oh >= 1 && q.ow >= 1,
             "a fused max-pool needs stride == window, no padding, over the conv's output");
    c.size_is(s.out, StepCheck::product({q.oh, q.ow, g.oc}), "the output");
  }
  void prepare_int8(const Step& s, Conv2dParams& p, const TensorInfo& out) const override {
    p.qargs = int8_output_args(s, p.input, out);
    p.columns.clear();
    for (const auto& w : p.weights) p.columns.push_back(qgemm_columns(*w, p.qargs));
  }
  void run_params(const StepRun& r, const Conv2dParams& p) const override;

};

void Conv2dStep::run_params(const StepRun& r, const Conv2dParams& p) const {
  const Step& s = r.step;
  const TensorInfo& out = r.out_info();
  const void* x = r.in<void>();
  void* y = r.out<void>();
  Conv2dGeometry g = p.geometry;
  g.n = r.batch;
  const size_t pixels = r.batch * g.oh * g.ow;
  const size_t ocg = g.oc / g.groups;
  const size_t k = g.kh * g.kw * (g.c / g.groups);
  const bool int8 = p.int8();
  const size_t out_bytes = out.elem_bytes();
  const UnaryEpilogue post = unary_epilogue(p.post);
  const Activation act{s.lo, s.hi, !p.post.empty() ? &post : nullptr};
  if (is_pointwise(p) && !p.pool_fused) {
    if (int8) {
      gemm_int8(x, pixels, k, *p.weights[0], y, g.oc, p.qargs, &p.columns[0]);
      finish_int8_clamp(s, out, y, pixels, g.oc, g.oc);
      if (!p.post.empty()) apply_unary_rows(post, static_cast<float*>(y), pixels, g.oc, g.oc);
    } else {
      gemm_float(static_cast<const float*>(x), pixels, k, *p.weights[0], static_cast<float*>(y), g.oc,
                 act, false);
    }
    return;
  }
  const size_t slot = slot_bytes(p, out, r.tiles);
  const auto pad = static_cast<uint8_t>(p.input.zero_point);
  // Conv output pixels of nseg segments of seg_len pixels, seg_stride pixels apart from p0,
  // into consecutive rows of dst (row stride g.oc), every group.
  auto conv_segments = [&](char* col, size_t p0, size_t nseg, size_t seg_len, size_t seg_stride, char* dst) {
    const size_t rows = nseg * seg_len;
    for (size_t grp = 0; grp < g.groups; ++grp) {
      char* d = dst + grp * ocg * out_bytes;
      if (int8) {
        auto* qcol = reinterpret_cast<uint8_t*>(col);
        for (size_t sg = 0; sg < nseg; ++sg) {
          im2col_nhwc(g, static_cast<const uint8_t*>(x), p0 + sg * seg_stride, seg_len, grp, pad,
                      qcol + sg * seg_len * k, k);
        }
        gemm_int8(qcol, rows, k, *p.weights[grp], d, g.oc, p.qargs, &p.columns[grp]);
        finish_int8_clamp(s, out, d, rows, ocg, g.oc);
        if (!p.post.empty()) apply_unary_rows(post, reinterpret_cast<float*>(d), rows, ocg, g.oc);
      } else {
        auto* fcol = reinterpret_cast<float*>(col);
        for (size_t sg = 0; sg < nseg; ++sg) {
          im2col_nhwc(g, static_cast<const float*>(x), p0 + sg * seg_stride, seg_len, grp, fcol + sg * seg_len * k, k);
        }
        gemm_float(fcol, rows, k, *p.weights[grp], reinterpret_cast<float*>(d), g.oc, act, false);
      }
    }
  };
  auto conv_tile = [&](char* col, size_t p0, size_t rows, char* dst) { conv_segments(col, p0, 1, rows, 0, dst); };
  if (!p.pool_fused) {
    // Equal tiles, a whole number per task: 196 pixels on 2 threads are 4 tiles of 49, not
    // 64 + 64 + 64 + 4 with one thread doing 128 rows and the other 68.
    const size_t max_rows = tile_rows(p, r.tiles);
    const size_t min_tiles = (pixels + max_rows - 1) / max_rows;
    const size_t tasks = std::min(r.threads, std::max<size_t>(1, min_tiles));
    const size_t tiles = (min_tiles + tasks - 1) / tasks * tasks;
    const size_t rows_per_tile = (pixels + tiles - 1) / tiles;
    run_tasks(tasks, [&](size_t t) {
      char* col = r.scratch + t * slot;
      for (size_t tile = t; tile < tiles; tile += tasks) {
        const size_t p0 = tile * rows_per_tile;
        if (p0 >= pixels) break;
        conv_tile(col, p0, std::min(rows_per_tile, pixels - p0), static_cast<char*>(y) + p0 * g.oc * out_bytes);
      }
    });
    return;
  }
  // Fused max-pool: a unit is one pool output row (image b, row py) and the band of conv rows
  // under it; each task takes a contiguous range of units, a tile up to units_per_tile of
  // them within one image. Too few units to share evenly (batch 1: the document's CNN has 7
  // on 2 threads, 4 + 3) are cut into column parts, one per thread, so the threads' shares
  // differ by a part of a unit at most.
  const Pool2dGeometry& pg = p.pool;
  const size_t units = r.batch * pg.oh, unit_px = unit_pixels(p);
  const size_t parts = r.threads > 1 && units % r.threads != 0 && units < 4 * r.threads
                           ? std::min(r.threads, pg.ow) : 1;
  const size_t per_tile = units_per_tile(p, r.tiles);
  const size_t cbytes = col_bytes(p, r.tiles);
  const size_t items = units * parts;
  const size_t tasks = std::min(r.threads, items);
  auto pool = [&](const Pool2dGeometry& tile, const char* conv_out, char* dst, size_t n) {
    if (out.dtype == DType::kU8) {
      maxpool2d_nhwc(tile, reinterpret_cast<const uint8_t*>(conv_out), reinterpret_cast<uint8_t*>(dst), 0, n);
    } else {
      maxpool2d_nhwc(tile, reinterpret_cast<const float*>(conv_out), reinterpret_cast<float*>(dst), 0, n);
    }
  };
  run_tasks(tasks, [&](size_t t) {
    char* col = r.scratch + t * slot;
    char* conv_out = col + cbytes;
    const size_t i1 = items * (t + 1) / tasks;
    for (size_t i = items * t / tasks; i < i1;) {
      const size_t u = i / parts, b = u / pg.oh, py = u % pg.oh;
      Pool2dGeometry tile = pg;
      tile.n = 1;
      if (parts > 1) {  // pool columns [c0, c1) of the unit: kh segments of conv pixels
        const size_t c0 = pg.ow * (i % parts) / parts, c1 = pg.ow * (i % parts + 1) / parts;
        const size_t seg_len = (c1 - c0) * pg.kw;
        conv_segments(col, (b * g.oh + py * pg.kh) * g.ow + c0 * pg.kw, pg.kh, seg_len, g.ow, conv_out);
        tile.h = pg.kh;
        tile.w = seg_len;
        tile.oh = 1;
        tile.ow = c1 - c0;
        pool(tile, conv_out, static_cast<char*>(y) + ((b * pg.oh + py) * pg.ow + c0) * g.oc * out_bytes, c1 - c0);
        ++i;
        continue;
      }
      const size_t n = std::min({per_tile, i1 - i, pg.oh - py});
      conv_tile(col, (b * g.oh + py * pg.kh) * g.ow, n * unit_px, conv_out);
      tile.h = n * pg.kh;
      tile.oh = n;
      pool(tile, conv_out, static_cast<char*>(y) + (b * pg.oh + py) * pg.ow * g.oc * out_bytes, n * pg.ow);
      i += n;
    }
  });
}

}  // namespace

FNN_DEFINE_STEP_KIND(conv2d_step, Conv2dStep)

}  // namespace fnn

// ---- Training -------------------------------------------------------------------------------

namespace fnn {
namespace {

constexpr size_t kTrainTileRows = 64;  // forward: output pixels per im2col tile
// Backward: a tile is at most this many floats of im2col (and as many of packed panels), so
// a task's working set stays in L2; whole images when they fit.
constexpr size_t kTrainTileFloats = size_t{1} << 16;
constexpr size_t kMaxParts = 8;                       // batch parts of a weight gradient
constexpr size_t kPartBufferBytes = size_t{8} << 20;  // their extra dw buffers, at most

size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

bool is_depthwise_train(const Conv2dGeometry& g) { return g.groups == g.c && g.c > 1; }

size_t train_threads() { return in_parallel_task() ? 1 : get_num_threads(); }

}  // namespace

void conv2d_train_forward(const Conv2dGeometry& g, const float* x, const float* w,
                          const float* bias, float lo, float hi, float* y) {
  if (is_depthwise_train(g)) {
    depthwise_conv2d_train_forward(g, x, w, bias, lo, hi, y);
    return;
  }
  const size_t pixels = g.n * g.oh * g.ow;
  if (pixels == 0) return;
  const size_t ocg = g.oc / g.groups, k = g.kh * g.kw * (g.c / g.groups);
  const size_t panel_vec = (ocg + kGemmNR - 1) / kGemmNR * kGemmNR;
  const size_t wbytes = round64(float_panels_bytes(WeightKind::kF32, k, ocg));
  const size_t bbytes = bias != nullptr ? round64(panel_vec * sizeof(float)) : 0;
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 &&
                         g.pad_left == 0 && g.groups == 1 && g.oh == g.h && g.ow == g.w;
  // Fixed tiles (never sized by the thread count): each output row is one GEMM row.
  const size_t tiles = (pixels + kTrainTileRows - 1) / kTrainTileRows;
  const size_t tasks = pointwise ? 0 : std::min(train_threads(), tiles);
  const size_t colbytes = round64(kTrainTileRows * k * sizeof(float));
  ScratchBlock scratch(g.groups * (wbytes + bbytes) + tasks * colbytes);
  char* base = scratch.as<char>();
  auto panels_of = [&](size_t grp) {
    F32Panels pw;
    pw.data = reinterpret_cast<const float*>(base + grp * (wbytes + bbytes));
    pw.k = k;
    pw.n = ocg;
    pw.bias = bias != nullptr ? reinterpret_cast<const float*>(base + grp * (wbytes + bbytes) + wbytes) : nullptr;
    return pw;
  };
  for (size_t grp = 0; grp < g.groups; ++grp) {
    char* dst = base + grp * (wbytes + bbytes);
    // B = W_g^T: element (kk, col) is w[(grp * ocg + col) * k + kk].
    pack_float_panels(WeightKind::kF32, w + grp * ocg * k, k, ocg, 1, k, dst);
    if (bias != nullptr) {
      auto* bp = reinterpret_cast<float*>(dst + wbytes);
      std::copy(bias + grp * ocg, bias + (grp + 1) * ocg, bp);
      std::fill(bp + ocg, bp + panel_vec, 0.f);
    }
  }
  const Activation act{lo, hi};
  if (pointwise) {
    gemm_f32_panels(x, pixels, k, panels_of(0), y, g.oc, act, false);
    return;
  }
  char* cols = base + g.groups * (wbytes + bbytes);
  run_tasks(tasks, [&](size_t t) {
    auto* col = reinterpret_cast<float*>(cols + t * colbytes);
    for (size_t tile = t; tile < tiles; tile += tasks) {
      const size_t p0 = tile * kTrainTileRows, rows = std::min(kTrainTileRows, pixels - p0);
      for (size_t grp = 0; grp < g.groups; ++grp) {
        im2col_nhwc(g, x, p0, rows, grp, col, k);
        gemm_f32_panels(col, rows, k, panels_of(grp), y + p0 * g.oc + grp * ocg, g.oc, act, false);
      }
    }
  });
}

void conv2d_backward(const Conv2dGeometry& g, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db) {
  if (is_depthwise_train(g)) {
    depthwise_conv2d_backward(g, x, w, dy, dx, dw, db);
    return;
  }
  const size_t ocg = g.oc / g.groups, cg = g.c / g.groups, k = g.kh * g.kw * cg;
  const size_t img_px = g.oh * g.ow, pixels = g.n * img_px;
  const size_t dw_elems = g.oc * k;
  if (db != nullptr) sum_rows_nhwc(pixels, g.oc, dy, db);
  if (pixels == 0) {
    std::fill(dw, dw + dw_elems, 0.f);
    if (dx != nullptr) std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
    return;
  }
  // Tiles: up to tile_px pixels of one image.
  const size_t tile_px = std::min(img_px, std::max<size_t>(16, kTrainTileFloats / k));
  const size_t parts = std::min({g.n, kMaxParts, std::max<size_t>(1, kPartBufferBytes / (dw_elems * sizeof(float)) + 1)});
  const size_t tasks = std::min(train_threads(), parts);
  // Scratch: dx's packed weights (one set per group), the parts' dw buffers (part 0 writes
  // dw itself), and per task an im2col / input-gradient tile, its packed panels and dy^T.
  const size_t wbytes = round64(float_panels_bytes(WeightKind::kF32, ocg, k));
  const size_t wtotal = dx != nullptr ? g.groups * wbytes : 0;
  const size_t partbytes = round64(dw_elems * sizeof(float));
  const size_t colbytes = round64(tile_px * k * sizeof(float));
  const size_t packbytes = round64(float_panels_bytes(WeightKind::kF32, tile_px, k));
  const size_t dytbytes = round64(g.oc * tile_px * sizeof(float));
  const size_t slot = colbytes + packbytes + dytbytes;
  ScratchBlock scratch(wtotal + (parts - 1) * partbytes + tasks * slot);
  char* base = scratch.as<char>();
  if (dx != nullptr) {
    for (size_t grp = 0; grp < g.groups; ++grp) {
      // B = W_g (ocg x k, row-major).
      pack_float_panels(WeightKind::kF32, w + grp * ocg * k, ocg, k, k, 1, base + grp * wbytes);
    }
  }
  char* part_base = base + wtotal;
  char* slot_base = part_base + (parts - 1) * partbytes;
  for_each_batch_part(g.n, parts, tasks, [&](size_t task, size_t part, size_t b0, size_t b1) {
    char* my = slot_base + task * slot;
    auto* col = reinterpret_cast<float*>(my);
    auto* packed = reinterpret_cast<float*>(my + colbytes);
    auto* dyt = reinterpret_cast<float*>(my + colbytes + packbytes);
    float* target = part == 0 ? dw : reinterpret_cast<float*>(part_base + (part - 1) * partbytes);
    bool first = true;
    if (dx != nullptr) std::fill(dx + b0 * g.h * g.w * g.c, dx + b1 * g.h * g.w * g.c, 0.f);
    for (size_t b = b0; b < b1; ++b) {
      for (size_t t0 = 0; t0 < img_px; t0 += tile_px) {
        const size_t p0 = b * img_px + t0, rows = std::min(tile_px, img_px - t0);
        transpose_f32(rows, g.oc, dy + p0 * g.oc, g.oc, dyt, rows);
        for (size_t grp = 0; grp < g.groups; ++grp) {
          im2col_nhwc(g, x, p0, rows, grp, col, k);
          pack_float_panels(WeightKind::kF32, col, rows, k, k, 1, packed);
          F32Panels pc;
          pc.data = packed;
          pc.k = rows;
          pc.n = k;
          gemm_f32_panels(dyt + grp * ocg * rows, ocg, rows, pc, target + grp * ocg * k, k,
                          Activation{}, !first);
          if (dx != nullptr) {
            F32Panels pw;
            pw.data = reinterpret_cast<const float*>(base + grp * wbytes);
            pw.k = ocg;
            pw.n = k;
            gemm_f32_panels(dy + p0 * g.oc + grp * ocg, rows, g.oc, pw, col, k, Activation{}, false);
            col2im_nhwc(g, col, p0, rows, grp, k, dx);
          }
        }
        first = false;
      }
    }
  });
  // dw = part 0 + part 1 + ... in part order, element by element.
  if (parts > 1) {
    parallel_ranges(dw_elems, 4096, train_threads(), [&](size_t e0, size_t e1) {
      for (size_t part = 1; part < parts; ++part) {
        const auto* src = reinterpret_cast<const float*>(part_base + (part - 1) * partbytes);
        for (size_t e = e0; e < e1; ++e) dw[e] += src[e];
      }
    });
  }
}

}  // namespace fnn
