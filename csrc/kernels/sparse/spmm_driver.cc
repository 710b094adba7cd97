#include <algorithm>
#include <cassert>
#include <cstring>
#include <memory>

#include "kernels/sparse/spmm.h"
#include "kernels/sparse/spmm_config.h"
#include "memory/scratch.h"
#include "runtime/thread_pool.h"

namespace fnn {
namespace {

// Below this many multiply-adds per thread, waking another thread costs more than it saves.
// A batch-1 product does one multiply-add per scalar load, so it is worth splitting sooner.
constexpr size_t kMinMacsPerThread = size_t{1} << 16;
constexpr size_t kMinMacsPerThreadSpmv = size_t{1} << 13;
// A K x nc column tile of the activations should stay in L2 while a row range streams past.
constexpr size_t kPanelBytes = size_t{1024} << 10;
// Bytes of W a row chunk may hold so that it stays in L2 while the column tiles pass.
constexpr size_t kCachedWeightBytes = size_t{512} << 10;
// Cost of a row beyond its blocks (pointer loads, epilogue, reduction), in multiply-adds.
constexpr size_t kRowCost = 4;
// Rows per kernel call in the dense-layer form: a 32 x nc tile on the stack, then transposed.
constexpr size_t kLinearRows = 32;
constexpr size_t kMaxNR = 64;

struct Kernels {
  SpmmPanelFn panel;
  SpmvFn spmv;
  size_t nr;
};

Kernels kernels_for(const SparseMatrix& w) {
  const SpmmUkernels& k = spmm_config().kernels;
  const int v = w.value_kind(), i = w.index_kind(), b = w.block_kind();
  return {k.panel[v][i][b], k.spmv[v][i][b], std::min(k.nr, kMaxNR)};
}

// First row of chunk c of `chunks`, splitting blocks * bk + rows * kRowCost evenly.
size_t row_split(const SparseMatrix& w, size_t c, size_t chunks) {
  const size_t rows = w.rows();
  if (c >= chunks) return rows;
  const uint32_t* rp = w.row_ptr();
  const size_t bk = w.bk();
  auto cost = [&](size_t r) { return size_t{rp[r]} * bk + r * kRowCost; };
  const size_t target = cost(rows) / chunks * c + cost(rows) % chunks * c / chunks;
  size_t lo = 0, hi = rows;  // smallest r with cost(r) >= target
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (cost(mid) < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Calls fn(r0, r1, tile) over row chunks x column tiles; every (row, tile) pair exactly once.
template <typename Fn>
void for_each_task(const SparseMatrix& w, size_t tiles, size_t cols_per_task, size_t min_macs,
                   const Fn& fn) {
  const size_t rows = w.rows();
  if (rows == 0 || tiles == 0) return;
  const size_t macs = (w.nblocks() * w.bk() + rows * kRowCost) * cols_per_task * tiles;
  const std::shared_ptr<ThreadPool> pool = global_thread_pool();
  const size_t threads =
      std::min(pool->num_threads(), std::max<size_t>(1, macs / min_macs));
  if (threads == 1) {
    for (size_t t = 0; t < tiles; ++t) fn(0, rows, t);
    return;
  }
  const size_t target = threads * 4;  // a few tasks per thread even out uneven progress
  // Tasks run row chunk by row chunk, each chunk's column tiles back to back: a chunk of W
  // small enough to stay cached while every tile passes is read from memory once, not once
  // per column tile.
  const size_t cached = std::max<size_t>(1, (w.nbytes() + kCachedWeightBytes - 1) / kCachedWeightBytes);
  const size_t chunks =
      std::min(rows, std::max<size_t>({size_t{1}, (target + tiles - 1) / tiles, tiles > 1 ? cached : 1}));
  pool->parallel_for(chunks * tiles, [&](size_t task) {
    const size_t c = task / tiles, t = task % tiles;
    const size_t r0 = row_split(w, c, chunks), r1 = row_split(w, c + 1, chunks);
    if (r0 < r1) fn(r0, r1, t);
  });
}

SpmmWeights rows_from(const SparseMatrix& w, size_t r0) {
  SpmmWeights s = w.weights();
  s.row_ptr += r0;
  if (s.row_scale != nullptr) s.row_scale += r0;
  return s;
}

SpmmParams params_from(const SpmmEpilogue& ep, size_t r0) {
  return {ep.bias != nullptr ? ep.bias + r0 : nullptr, ep.min, ep.max};
}

// Column tile width: the kernel's widest, narrowed while a K x nc tile would not fit L2.
size_t tile_width(const Kernels& k, size_t k_padded, size_t n) {
  size_t nc = k.nr;
  while (nc > 16 && k_padded * nc * sizeof(float) > kPanelBytes) nc /= 2;
  return std::min(nc, n);
}

void run_spmv(const SparseMatrix& w, const Kernels& k, const float* x, float* y,
              const SpmmEpilogue& ep) {
  for_each_task(w, 1, 1, kMinMacsPerThreadSpmv, [&](size_t r0, size_t r1, size_t) {
    const SpmmWeights s = rows_from(w, r0);
    const SpmmParams p = params_from(ep, r0);
    k.spmv(r1 - r0, &s, x, y + r0, &p);
  });
}

// x (cols values) zero-padded to cols_padded when blocks reach past cols.
const float* padded_vector(const SparseMatrix& w, const float* x, ScratchBlock& scratch) {
  if (w.cols_padded() == w.cols()) return x;
  float* xp = scratch.as<float>();
  std::memcpy(xp, x, w.cols() * sizeof(float));
  std::fill(xp + w.cols(), xp + w.cols_padded(), 0.0f);
  return xp;
}

}  // namespace

void spmm(const SparseMatrix& w, const float* x, size_t n, size_t ldx, float* y, size_t ldy,
          const SpmmEpilogue& ep) {
  if (n == 0 || w.rows() == 0) return;
  const Kernels k = kernels_for(w);
  const size_t kp = w.cols_padded();
  const bool pad = kp != w.cols();
  ScratchBlock scratch(pad ? kp * n * sizeof(float) : 0);
  if (n == 1) {
    assert(ldx == 1 && ldy == 1);
    run_spmv(w, k, padded_vector(w, x, scratch), y, ep);
    return;
  }
  if (pad) {
    float* xp = scratch.as<float>();
    for (size_t r = 0; r < w.cols(); ++r) std::memcpy(xp + r * n, x + r * ldx, n * sizeof(float));
    std::fill(xp + w.cols() * n, xp + kp * n, 0.0f);
    x = xp;
    ldx = n;
  }
  const size_t nc = tile_width(k, kp, n);
  const size_t tiles = (n + nc - 1) / nc;
  for_each_task(w, tiles, nc, kMinMacsPerThread, [&](size_t r0, size_t r1, size_t t) {
    const size_t j0 = t * nc, cols = std::min(nc, n - j0);
    const SpmmWeights s = rows_from(w, r0);
    const SpmmParams p = params_from(ep, r0);
    k.panel(r1 - r0, cols, &s, x + j0, ldx, y + r0 * ldy + j0, ldy, &p);
  });
}

void spmm_linear(const SparseMatrix& w, const float* x, size_t batch, size_t ldx, float* y,
                 size_t ldy, const SpmmEpilogue& ep) {
  if (batch == 0 || w.rows() == 0) return;
  const Kernels k = kernels_for(w);
  const size_t kp = w.cols_padded(), kc = w.cols();
  if (batch == 1) {
    ScratchBlock scratch(kp != kc ? kp * sizeof(float) : 0);
    run_spmv(w, k, padded_vector(w, x, scratch), y, ep);
    return;
  }
  // X^T (kp x batch): each nonzero then multiplies a contiguous run of the batch.
  ScratchBlock scratch(kp * batch * sizeof(float));
  float* xt = scratch.as<float>();
  constexpr size_t kT = 32;
  const size_t k_tiles = (kc + kT - 1) / kT;
  global_thread_pool()->parallel_for(k_tiles, [&](size_t kt) {
    const size_t c0 = kt * kT, c1 = std::min(kc, c0 + kT);
    for (size_t b0 = 0; b0 < batch; b0 += kT) {
      const size_t b1 = std::min(batch, b0 + kT);
      for (size_t c = c0; c < c1; ++c) {
        for (size_t b = b0; b < b1; ++b) xt[c * batch + b] = x[b * ldx + c];
      }
    }
  });
  std::fill(xt + kc * batch, xt + kp * batch, 0.0f);

  const size_t nc = tile_width(k, kp, batch);
  const size_t tiles = (batch + nc - 1) / nc;
  for_each_task(w, tiles, nc, kMinMacsPerThread, [&](size_t r0, size_t r1, size_t t) {
    const size_t j0 = t * nc, cols = std::min(nc, batch - j0);
    alignas(64) float tile[kLinearRows * kMaxNR];
    for (size_t r = r0; r < r1; r += kLinearRows) {
      const size_t rows = std::min(kLinearRows, r1 - r);
      const SpmmWeights s = rows_from(w, r);
      const SpmmParams p = params_from(ep, r);
      k.panel(rows, cols, &s, xt + j0, batch, tile, kMaxNR, &p);
      for (size_t j = 0; j < cols; ++j) {
        float* yrow = y + (j0 + j) * ldy + r;
        for (size_t i = 0; i < rows; ++i) yrow[i] = tile[i * kMaxNR + j];
      }
    }
  });
}

}  // namespace fnn
