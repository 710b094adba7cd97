// FNN_SPMM_UKERNELS_DEFINE(name): defines the SpMM table function `name` (declared from
// spmm_ukernels.inc) of an ISA translation unit whose anonymous namespace holds the kernel
// templates spmm_panel<V, Idx, BK> and spmv<V, Idx, BK>: every (value, index, block) kind,
// and nr, the widest panel, from the list (name_tile.nr). Include after those templates.
#pragma once

#include <cassert>
#include <cstdint>  // IWYU pragma: keep (the macros name uint16_t / uint32_t)

#include "kernels/gemm/dispatch_mr.h"

#include "kernels/sparse/spmm_ukernels.h"

// spmm_panel<V, Idx, BK>, the panel entry point the table names: tile<V, Idx, BK, NV> for a
// compile-time NV = ceil(nc / lanes) vectors, up to kNR columns (dispatch_mr picks any small
// count).
#define FNN_SPMM_PANEL_ENTRY(tile, lanes)                                                        \
  template <int V, typename Idx, size_t BK>                                                      \
  void spmm_panel(size_t rows, size_t nc, const SpmmWeights* w, const float* p, size_t ldp,     \
                  float* y, size_t ldy, const SpmmParams* params) {                              \
    assert(nc >= 1 && nc <= kNR);                                                                \
    assert(ldp >= nc && ldy >= nc);                                                              \
    dispatch_mr<kNR / (lanes)>((nc + (lanes) - 1) / (lanes), [&](auto nv) {                      \
      tile<V, Idx, BK, decltype(nv)::value>(rows, nc, w, p, ldp, y, ldy, params);                \
    });                                                                                          \
  }

// Each ISA's kernels for one value kind V, both index widths and both block shapes.
#define FNN_SPMM_FILL_VALUE_KIND(table, V)                                  \
  do {                                                                      \
    (table)->panel[V][kSpmmU16][kSpmmBk1] = spmm_panel<V, uint16_t, 1>;    \
    (table)->panel[V][kSpmmU16][kSpmmBk4] = spmm_panel<V, uint16_t, 4>;    \
    (table)->panel[V][kSpmmU32][kSpmmBk1] = spmm_panel<V, uint32_t, 1>;    \
    (table)->panel[V][kSpmmU32][kSpmmBk4] = spmm_panel<V, uint32_t, 4>;    \
    (table)->spmv[V][kSpmmU16][kSpmmBk1] = spmv<V, uint16_t, 1>;           \
    (table)->spmv[V][kSpmmU16][kSpmmBk4] = spmv<V, uint16_t, 4>;           \
    (table)->spmv[V][kSpmmU32][kSpmmBk1] = spmv<V, uint32_t, 1>;           \
    (table)->spmv[V][kSpmmU32][kSpmmBk4] = spmv<V, uint32_t, 4>;           \
  } while (0)

#define FNN_SPMM_UKERNELS_DEFINE(name)                                       \
  void name(SpmmUkernels* table) {                                           \
    static_assert(kSpmmNumValueKinds == 3 && kSpmmNumIndexKinds == 2 &&      \
                      kSpmmNumBlockKinds == 2,                               \
                  "the table fill below names every kind");                  \
    FNN_SPMM_FILL_VALUE_KIND(table, kSpmmF32);                               \
    FNN_SPMM_FILL_VALUE_KIND(table, kSpmmF16);                               \
    FNN_SPMM_FILL_VALUE_KIND(table, kSpmmS8);                                \
    table->nr = name##_tile.nr;                                              \
  }
