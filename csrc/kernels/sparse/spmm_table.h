// FNN_SPMM_UKERNELS_DEFINE(name): defines the SpMM table function `name` (declared from
// spmm_ukernels.inc) of an ISA translation unit whose anonymous namespace holds the kernel
// templates spmm_panel<V, Idx, BK> and spmv<V, Idx, BK>: every (value, index, block) kind,
// and nr, the widest panel, from the list (name_tile.nr). Include after those templates.
#pragma once

#include <cstdint>  // IWYU pragma: keep (the macros name uint16_t / uint32_t)

#include "kernels/sparse/spmm_ukernels.h"

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
