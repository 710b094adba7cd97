// A sparse weight matrix (rows x cols) in the SpMM kernels' storage (spmm_ukernels.h): row
// pointers, block column indices, values and (s8) row scales in one pool block — or, loaded
// from a .fnn file, in memory someone else owns (view()). Each array starts 64-aligned; the
// padding between them is zero.
//
// Built once from CSR / BSR arrays and validated then: every later call trusts it. The
// values are converted at build time (f16 rounding to nearest even; s8 symmetric per row,
// scale = max|w| / 127), so what the kernels multiply is what to_dense() returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/sparse/spmm_ukernels.h"
#include "memory/pool.h"

namespace fnn {

class SparseMatrix {
 public:
  // indptr[rows + 1], indices[nblocks] (block columns: covers indices[b]*bk .. +bk-1),
  // data[nblocks * bk]. Throws std::invalid_argument naming the first defect found: indptr
  // not starting at 0, decreasing or not ending at nblocks; an index out of range; indices
  // not strictly increasing within a row; a non-finite value; a nonzero value in the padding
  // past cols of a last partial block. bk is 1 or 4.
  static std::shared_ptr<SparseMatrix> create(size_t rows, size_t cols, size_t bk,
                                              SpmmValueKind values, const int64_t* indptr,
                                              const int64_t* indices, size_t nblocks,
                                              const float* data, std::shared_ptr<Pool> pool);
  // Bytes of the storage layout (the arrays above, each padded to 64). Throws
  // std::length_error if that overflows.
  static size_t layout_bytes(size_t rows, size_t cols, size_t bk, SpmmValueKind values,
                             size_t nblocks);
  // A matrix already in the storage layout (a blob of a mapped .fnn file): nothing is copied;
  // `owner` keeps the bytes alive. Throws std::invalid_argument naming the first defect: rows
  // or cols 0, bk not 1 or 4, an unknown value kind, a size other than layout_bytes(...), a
  // misaligned block, or row pointers / indices that would send a kernel out of bounds
  // (checked as create() does; the values are not read).
  static std::shared_ptr<SparseMatrix> view(size_t rows, size_t cols, size_t bk,
                                            SpmmValueKind values, size_t nblocks,
                                            const void* block, size_t block_bytes,
                                            std::shared_ptr<const void> owner);
  ~SparseMatrix();
  SparseMatrix(const SparseMatrix&) = delete;
  SparseMatrix& operator=(const SparseMatrix&) = delete;

  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t bk() const { return bk_; }
  size_t cols_padded() const { return (cols_ + bk_ - 1) / bk_ * bk_; }
  size_t nblocks() const { return nblocks_; }
  SpmmValueKind value_kind() const { return values_; }
  SpmmIndexKind index_kind() const { return index_; }
  SpmmBlockKind block_kind() const { return bk_ == 4 ? kSpmmBk4 : kSpmmBk1; }
  size_t nbytes() const { return nbytes_; }  // pool bytes held (a view: layout bytes)
  const void* storage() const { return row_ptr_; }  // the layout_bytes(...) bytes of storage

  const uint32_t* row_ptr() const { return row_ptr_; }
  const void* idx() const { return idx_; }
  const void* val() const { return val_; }
  const float* row_scale() const { return row_scale_; }
  SpmmWeights weights() const { return {row_ptr_, idx_, val_, row_scale_}; }

  // The stored values as f32 (dequantized), nblocks * bk of them.
  std::vector<float> values_f32() const;

 private:
  SparseMatrix() = default;
  // An empty object with the given geometry (no storage yet).
  static std::shared_ptr<SparseMatrix> shaped(size_t rows, size_t cols, size_t bk, size_t nblocks,
                                              SpmmValueKind values);
  void set_sections(void* block);

  size_t rows_ = 0, cols_ = 0, bk_ = 1, nblocks_ = 0, nbytes_ = 0;
  SpmmValueKind values_ = kSpmmF32;
  SpmmIndexKind index_ = kSpmmU16;
  std::shared_ptr<Pool> pool_;
  void* block_ = nullptr;              // pool block, or null for a view
  std::shared_ptr<const void> owner_;  // a view's memory
  uint32_t* row_ptr_ = nullptr;
  void* idx_ = nullptr;
  void* val_ = nullptr;
  float* row_scale_ = nullptr;
};

}  // namespace fnn
