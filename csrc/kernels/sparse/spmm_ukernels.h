// Sparse-weight x dense-activation micro-kernels (SpMM and SpMV).
//
// The weight W (rows x K) is stored row by row in blocks of BK consecutive columns (BK = 1:
// plain CSR; BK = 4: 1x4 blocks along K, BSR). A validated matrix is trusted by the kernels:
//   row_ptr[rows + 1]  uint32  offset of each row's first block (absolute, into idx and val)
//   idx[nblocks]       uint16 or uint32: the block covers columns idx*BK .. idx*BK + BK - 1,
//                      sorted ascending within a row
//   val[nblocks * BK]  f32 | f16 (IEEE binary16 bits) | s8 (times row_scale[r])
//   row_scale[rows]    f32, s8 values only (null otherwise)
// Kernels receive the row range they own with row_ptr, row_scale and bias already offset to
// its first row; idx and val are indexed with the absolute offsets row_ptr holds.
//
// Panel kernel (any batch): for r < rows and j < nc (1 <= nc <= the kernel's NR),
//   y[r * ldy + j] = clamp(bias[r] + s_r * sum_blocks sum_t<BK val[b*BK + t] * p[(idx[b]*BK + t) * ldp + j])
// p is row-major with row stride ldp floats; only columns j < nc of p are read and only
// columns j < nc of y written. s_r = row_scale[r] for s8 values, 1 otherwise; bias may be
// null (0). Vector kernel (batch 1): the same with nc = 1 and a contiguous x (ldp = 1).
// Every row idx*BK + t of p (element of x) the matrix names must be readable: the caller pads
// K up to a multiple of BK with zero rows.
//
// This header must stay free of inline functions: ISA translation units include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/ukernel_info.h"

namespace fnn {

enum SpmmValueKind : int { kSpmmF32 = 0, kSpmmF16 = 1, kSpmmS8 = 2, kSpmmNumValueKinds = 3 };
enum SpmmIndexKind : int { kSpmmU16 = 0, kSpmmU32 = 1, kSpmmNumIndexKinds = 2 };
// Block shapes along K: 0 -> BK = 1 (CSR), 1 -> BK = 4 (1x4 BSR).
enum SpmmBlockKind : int { kSpmmBk1 = 0, kSpmmBk4 = 1, kSpmmNumBlockKinds = 2 };

struct SpmmWeights {
  const uint32_t* row_ptr;
  const void* idx;
  const void* val;
  const float* row_scale;
};

struct SpmmParams {
  const float* bias;  // per row, or null
  float min;          // -inf / +inf for none, 0 / +inf for ReLU, 0 / 6 for ReLU6
  float max;
};

using SpmmPanelFn = void (*)(size_t rows, size_t nc, const SpmmWeights* w, const float* p,
                             size_t ldp, float* y, size_t ldy, const SpmmParams* params);
using SpmvFn = void (*)(size_t rows, const SpmmWeights* w, const float* x, float* y,
                        const SpmmParams* params);

// One ISA's kernels for every (value, index, block) combination.
struct SpmmUkernels {
  SpmmPanelFn panel[kSpmmNumValueKinds][kSpmmNumIndexKinds][kSpmmNumBlockKinds];
  SpmvFn spmv[kSpmmNumValueKinds][kSpmmNumIndexKinds][kSpmmNumBlockKinds];
  size_t nr;  // widest nc the panel kernels take
};

// Each ISA translation unit fills the whole table (spmm_ukernels.inc).
using SpmmTable = void(SpmmUkernels* table);
using SpmmTableFn = SpmmTable*;

FNN_UKERNEL_SIG(SpmmTable, SpmmTable);

#define FNN_UKERNEL FNN_UKERNEL_DECLARE
#include "kernels/sparse/spmm_ukernels.inc"
#undef FNN_UKERNEL

}  // namespace fnn
