#pragma once

#include <memory>
#include <vector>

#include "kernels/sparse/sparse_matrix.h"
#include "runtime/step.h"

namespace fnn {

// sparse_dense: y = x @ S^T (+ bias), S a pruned weight matrix (CSR or blocks).
struct SparseDenseParams : StepParams {
  std::shared_ptr<SparseMatrix> matrix;
  std::vector<float> bias;  // rows values, or empty
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.matrix), f(p.bias);
  }
};

}  // namespace fnn
