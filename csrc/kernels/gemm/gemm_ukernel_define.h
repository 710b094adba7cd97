// FNN_GEMM_UKERNEL_DEFINE(name, AElem, WElem, CElem, Params, Tile...): defines the GEMM
// micro-kernel `name` (declared from gemm_ukernels.inc) as Tile::run<rows>(nc, k, a, a_stride,
// w, c, c_stride, params) for a compile-time row count, 1 <= rows <= the list's MR
// (name_tile.mr): one instantiation per height, so a short tile does only its own rows' work
// and reads only its own rows. Every GEMM kernel's entry point, on every ISA.
#pragma once

#include <cassert>
#include <cstddef>

#include "kernels/gemm/dispatch_mr.h"
#include "kernels/gemm/gemm_ukernels.h"

#define FNN_GEMM_UKERNEL_DEFINE(name, AElem, WElem, CElem, Params, ...)                         \
  void name(size_t mr, size_t nc, size_t k, const AElem* a, size_t a_stride, const WElem* w,     \
            CElem* c, size_t c_stride, const Params* params) {                                  \
    assert(mr >= 1 && mr <= name##_tile.mr);                                                     \
    assert(nc >= 1 && nc <= name##_tile.nr);                                                     \
    assert(k >= 1);                                                                              \
    assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);                   \
    ::fnn::dispatch_mr<name##_tile.mr>(mr, [&](auto rows) {                                      \
      __VA_ARGS__::template run<decltype(rows)::value>(nc, k, a, a_stride, w, c, c_stride,       \
                                                       params);                                  \
    });                                                                                          \
  }
