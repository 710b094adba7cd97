// Sparse-weight matmul driver: splits the output into (row range) x (column tile) tasks
// balanced by stored blocks, not by row count, runs them on the library's thread pool and
// calls the active ISA's SpMM / SpMV kernels (spmm_ukernels.h).
//
// Every output element is computed by one task in one fixed order: results do not depend on
// the number of threads. Scratch (a padded or transposed copy of the activations) comes from
// the process-wide scratch pool, so steady-state calls allocate nothing.
#pragma once

#include <cstddef>

#include "kernels/sparse/sparse_matrix.h"

namespace fnn {

struct SpmmEpilogue {
  const float* bias = nullptr;  // w.rows() values, or null
  float min = -__builtin_inff();
  float max = __builtin_inff();
};

// Y (rows x n, row stride ldy) = W @ X (cols x n, row stride ldx). n = 1 needs ldx = ldy = 1.
void spmm(const SparseMatrix& w, const float* x, size_t n, size_t ldx, float* y, size_t ldy,
          const SpmmEpilogue& ep);

// Y (batch x rows, row stride ldy) = X (batch x cols, row stride ldx) @ W^T: the dense-layer
// form, with nothing transposed by the caller.
void spmm_linear(const SparseMatrix& w, const float* x, size_t batch, size_t ldx, float* y,
                 size_t ldy, const SpmmEpilogue& ep);

}  // namespace fnn
