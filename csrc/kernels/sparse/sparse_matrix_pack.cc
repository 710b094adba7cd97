// SparseMatrix construction: validation of CSR / BSR arrays and conversion of the values.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/common/half.h"
#include "kernels/sparse/sparse_matrix.h"

namespace fnn {
namespace {

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

void validate(size_t rows, size_t cols, size_t bk, const int64_t* indptr, const int64_t* indices,
              size_t nblocks, const float* data) {
  const int64_t block_cols = static_cast<int64_t>((cols + bk - 1) / bk);
  if (indptr[0] != 0) fail("indptr[0] is " + std::to_string(indptr[0]) + ", expected 0");
  for (size_t r = 0; r < rows; ++r) {
    const int64_t b0 = indptr[r], b1 = indptr[r + 1];
    if (b1 < b0) {
      fail("indptr decreases at row " + std::to_string(r) + ": " + std::to_string(b0) + " -> " +
           std::to_string(b1));
    }
    if (b1 > static_cast<int64_t>(nblocks)) {
      fail("indptr[" + std::to_string(r + 1) + "] = " + std::to_string(b1) +
           " exceeds the number of stored entries (" + std::to_string(nblocks) + ")");
    }
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t c = indices[b];
      if (c < 0 || c >= block_cols) {
        fail("row " + std::to_string(r) + ": column index " + std::to_string(c) +
             " (entry " + std::to_string(b) + ") is out of range [0, " +
             std::to_string(block_cols) + ")");
      }
      if (b > b0 && c <= indices[b - 1]) {
        fail("row " + std::to_string(r) + ": column indices are not strictly increasing at entry " +
             std::to_string(b) + " (" + std::to_string(indices[b - 1]) + " then " +
             std::to_string(c) + "); sort them and merge duplicates");
      }
      for (size_t t = 0; t < bk; ++t) {
        const float v = data[static_cast<size_t>(b) * bk + t];
        if (!std::isfinite(v)) {
          fail("row " + std::to_string(r) + ": value at column " +
               std::to_string(static_cast<size_t>(c) * bk + t) + " is not finite");
        }
        if (static_cast<size_t>(c) * bk + t >= cols && v != 0.0f) {
          fail("row " + std::to_string(r) + ": block " + std::to_string(c) +
               " has a nonzero value past the last column " + std::to_string(cols - 1));
        }
      }
    }
  }
  if (indptr[rows] != static_cast<int64_t>(nblocks)) {
    fail("indptr ends at " + std::to_string(indptr[rows]) + " but " + std::to_string(nblocks) +
         " entries are stored");
  }
}

size_t value_bytes(SpmmValueKind v) { return v == kSpmmF32 ? 4 : v == kSpmmF16 ? 2 : 1; }

SpmmIndexKind index_kind_for(size_t cols, size_t bk) {
  return (cols + bk - 1) / bk <= 65536 ? kSpmmU16 : kSpmmU32;
}

// Byte sizes of the four arrays, each rounded up to 64; false if they overflow.
struct Sections {
  size_t ptr = 0, idx = 0, val = 0, scale = 0;
  size_t total() const { return ptr + idx + val + scale; }
};
bool sections_of(size_t rows, size_t cols, size_t bk, SpmmValueKind values, size_t nblocks,
                 Sections* s) {
  const size_t limit = size_t{1} << 60, a = Pool::kAlignment;
  const size_t idx_bytes = index_kind_for(cols, bk) == kSpmmU16 ? 2 : 4;
  if (rows >= limit || nblocks >= limit || bk > 4) return false;
  s->ptr = round_up((rows + 1) * 4, a);
  s->idx = round_up(nblocks * idx_bytes, a);
  s->val = round_up(nblocks * bk * value_bytes(values), a);
  s->scale = values == kSpmmS8 ? round_up(rows * 4, a) : 0;
  return true;
}

}  // namespace

std::shared_ptr<SparseMatrix> SparseMatrix::shaped(size_t rows, size_t cols, size_t bk,
                                                   size_t nblocks, SpmmValueKind values) {
  std::shared_ptr<SparseMatrix> m(new SparseMatrix());
  m->rows_ = rows;
  m->cols_ = cols;
  m->bk_ = bk;
  m->nblocks_ = nblocks;
  m->values_ = values;
  m->index_ = index_kind_for(cols, bk);
  return m;
}

std::shared_ptr<SparseMatrix> SparseMatrix::create(size_t rows, size_t cols, size_t bk,
                                                   SpmmValueKind values, const int64_t* indptr,
                                                   const int64_t* indices, size_t nblocks,
                                                   const float* data, std::shared_ptr<Pool> pool) {
  if (bk != 1 && bk != 4) fail("block width along K must be 1 or 4, got " + std::to_string(bk));
  if (nblocks > std::numeric_limits<uint32_t>::max()) {
    fail(std::to_string(nblocks) + " stored blocks exceed the 2^32 - 1 that row pointers address");
  }
  validate(rows, cols, bk, indptr, indices, nblocks, data);

  std::shared_ptr<SparseMatrix> m = shaped(rows, cols, bk, nblocks, values);
  Sections sec;
  if (!sections_of(rows, cols, bk, values, nblocks, &sec)) fail("the matrix is too large");
  m->pool_ = std::move(pool);
  m->block_ = m->pool_->allocate(sec.total());
  m->nbytes_ = m->pool_->block_bytes(m->block_);
  // Zeroed so that the padding between the arrays is too: the storage is saved byte for
  // byte (.fnn files), and equal matrices must make equal files.
  std::memset(m->block_, 0, sec.total());
  m->set_sections(m->block_);

  for (size_t r = 0; r <= rows; ++r) m->row_ptr_[r] = static_cast<uint32_t>(indptr[r]);
  for (size_t b = 0; b < nblocks; ++b) {
    if (m->index_ == kSpmmU16) {
      static_cast<uint16_t*>(m->idx_)[b] = static_cast<uint16_t>(indices[b]);
    } else {
      static_cast<uint32_t*>(m->idx_)[b] = static_cast<uint32_t>(indices[b]);
    }
  }
  const size_t n = nblocks * bk;
  switch (values) {
    case kSpmmF32: std::memcpy(m->val_, data, n * 4); break;
    case kSpmmF16:
      for (size_t i = 0; i < n; ++i) static_cast<uint16_t*>(m->val_)[i] = f32_to_f16(data[i]);
      break;
    case kSpmmS8: {
      auto* q = static_cast<int8_t*>(m->val_);
      for (size_t r = 0; r < rows; ++r) {
        const size_t v0 = static_cast<size_t>(indptr[r]) * bk, v1 = static_cast<size_t>(indptr[r + 1]) * bk;
        float amax = 0.0f;
        for (size_t i = v0; i < v1; ++i) amax = std::max(amax, std::fabs(data[i]));
        // An all-zero row keeps scale 1 so dequantization never divides by zero.
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        m->row_scale_[r] = scale;
        for (size_t i = v0; i < v1; ++i) {
          const float s = std::nearbyint(data[i] / scale);  // round half to even
          q[i] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, s)));
        }
      }
      break;
    }
    default: fail("unknown value kind");
  }
  return m;
}

void SparseMatrix::set_sections(void* block) {
  Sections sec;
  sections_of(rows_, cols_, bk_, values_, nblocks_, &sec);
  auto* base = static_cast<char*>(block);
  row_ptr_ = reinterpret_cast<uint32_t*>(base);
  idx_ = base + sec.ptr;
  val_ = base + sec.ptr + sec.idx;
  row_scale_ = values_ == kSpmmS8 ? reinterpret_cast<float*>(base + sec.ptr + sec.idx + sec.val)
                                  : nullptr;
}

size_t SparseMatrix::layout_bytes(size_t rows, size_t cols, size_t bk, SpmmValueKind values,
                                  size_t nblocks) {
  Sections sec;
  if (!sections_of(rows, cols, bk, values, nblocks, &sec)) {
    throw std::length_error("a sparse matrix of " + std::to_string(rows) + " rows and " +
                            std::to_string(nblocks) + " blocks overflows the address space");
  }
  return sec.total();
}

std::shared_ptr<SparseMatrix> SparseMatrix::view(size_t rows, size_t cols, size_t bk,
                                                 SpmmValueKind values, size_t nblocks,
                                                 const void* block, size_t block_bytes,
                                                 std::shared_ptr<const void> owner) {
  if (rows == 0 || cols == 0) fail("a sparse matrix needs rows, cols >= 1");
  if (bk != 1 && bk != 4) fail("block width along K must be 1 or 4, got " + std::to_string(bk));
  if (values != kSpmmF32 && values != kSpmmF16 && values != kSpmmS8) fail("unknown value kind");
  if (nblocks > std::numeric_limits<uint32_t>::max()) {
    fail(std::to_string(nblocks) + " stored blocks exceed the 2^32 - 1 that row pointers address");
  }
  if (reinterpret_cast<uintptr_t>(block) % Pool::kAlignment != 0) {
    fail("sparse storage must be 64-byte aligned");
  }
  Sections sec;
  if (!sections_of(rows, cols, bk, values, nblocks, &sec) || sec.total() != block_bytes) {
    fail("a " + std::to_string(rows) + " x " + std::to_string(cols) + " matrix of " +
         std::to_string(nblocks) + " blocks takes " +
         (sec.total() != 0 ? std::to_string(sec.total()) : std::string("too many")) +
         " bytes, the blob has " + std::to_string(block_bytes));
  }
  std::shared_ptr<SparseMatrix> m = shaped(rows, cols, bk, nblocks, values);
  m->nbytes_ = block_bytes;
  m->owner_ = std::move(owner);
  // Nothing writes a matrix after it is built: the const_cast never leads to a store.
  m->set_sections(const_cast<void*>(block));
  // The kernels index activations and values with these: each must stay in range.
  const uint32_t* rp = m->row_ptr_;
  const size_t block_cols = (cols + bk - 1) / bk;
  if (rp[0] != 0) fail("row_ptr[0] is " + std::to_string(rp[0]) + ", expected 0");
  auto index = [&](size_t b) -> size_t {
    return m->index_ == kSpmmU16 ? static_cast<const uint16_t*>(m->idx_)[b]
                                 : static_cast<const uint32_t*>(m->idx_)[b];
  };
  for (size_t r = 0; r < rows; ++r) {
    if (rp[r + 1] < rp[r] || rp[r + 1] > nblocks) {
      fail("row_ptr[" + std::to_string(r + 1) + "] = " + std::to_string(rp[r + 1]) +
           " decreases or passes the " + std::to_string(nblocks) + " stored blocks");
    }
    for (size_t b = rp[r]; b < rp[r + 1]; ++b) {
      const size_t c = index(b);
      if (c >= block_cols) {
        fail("row " + std::to_string(r) + ": block column " + std::to_string(c) + " (entry " +
             std::to_string(b) + ") is out of range [0, " + std::to_string(block_cols) + ")");
      }
      if (b > rp[r] && c <= index(b - 1)) {
        fail("row " + std::to_string(r) + ": block columns are not strictly increasing at entry " +
             std::to_string(b));
      }
    }
  }
  if (rp[rows] != nblocks) {
    fail("row_ptr ends at " + std::to_string(rp[rows]) + " but " + std::to_string(nblocks) +
         " blocks are stored");
  }
  return m;
}

SparseMatrix::~SparseMatrix() {
  if (block_ != nullptr) pool_->deallocate(block_);
}

std::vector<float> SparseMatrix::values_f32() const {
  const size_t n = nblocks_ * bk_;
  std::vector<float> out(n);
  for (size_t r = 0; r < rows_; ++r) {
    for (size_t i = row_ptr_[r] * bk_; i < row_ptr_[r + 1] * bk_; ++i) {
      switch (values_) {
        case kSpmmF32: out[i] = static_cast<const float*>(val_)[i]; break;
        case kSpmmF16: out[i] = f16_to_f32(static_cast<const uint16_t*>(val_)[i]); break;
        case kSpmmS8: out[i] = static_cast<const int8_t*>(val_)[i] * row_scale_[r]; break;
        default: break;
      }
    }
  }
  return out;
}

}  // namespace fnn
