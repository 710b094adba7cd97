// sgemm: C = op(A) * op(B) (+ bias), or C += op(A) * op(B), for operands that change every
// call (training: a dense layer's forward, input gradient and weight gradient).
//
// op(B) is packed per call into scratch in the float panel layout (pack_float_panels, the
// same routine PackedWeights uses), op(A) is transposed into scratch when trans_a, and the
// float GEMM driver runs them (kGemmAccumulate for accumulate). Scratch comes from the
// scratch pool, so a steady state of equal calls allocates nothing from the OS. Every element
// of C is computed in one fixed order: results do not depend on the thread count.
#pragma once

#include <cstddef>

namespace fnn {

// op(A) is m x k: A is m x k (row stride lda), or k x m with trans_a. op(B) is k x n: B is
// k x n (row stride ldb), or n x k with trans_b. C is m x n (row stride ldc). bias: n values
// or null, only without accumulate. k == 0 gives C = bias (or 0), untouched with accumulate.
void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const float* a, size_t lda,
           const float* b, size_t ldb, float* c, size_t ldc, const float* bias, bool accumulate);

// dst (cols x rows, row stride ld_dst) = src^T (src: rows x cols, row stride ld_src), in
// cache tiles; run on the thread pool when large.
void transpose_f32(size_t rows, size_t cols, const float* src, size_t ld_src, float* dst,
                   size_t ld_dst);

}  // namespace fnn
