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

}  // namespace

std::shared_ptr<SparseMatrix> SparseMatrix::create(size_t rows, size_t cols, size_t bk,
                                                   SpmmValueKind values, const int64_t* indptr,
                                                   const int64_t* indices, size_t nblocks,
                                                   const float* data, std::shared_ptr<Pool> pool) {
  if (bk != 1 && bk != 4) fail("block width along K must be 1 or 4, got " + std::to_string(bk));
  if (nblocks > std::numeric_limits<uint32_t>::max()) {
    fail(std::to_string(nblocks) + " stored blocks exceed the 2^32 - 1 that row pointers address");
  }
  validate(rows, cols, bk, indptr, indices, nblocks, data);

  std::shared_ptr<SparseMatrix> m(new SparseMatrix());
  m->rows_ = rows;
  m->cols_ = cols;
  m->bk_ = bk;
  m->nblocks_ = nblocks;
  m->values_ = values;
  m->index_ = (cols + bk - 1) / bk <= 65536 ? kSpmmU16 : kSpmmU32;
  const size_t idx_bytes = m->index_ == kSpmmU16 ? 2 : 4;
  const size_t a = Pool::kAlignment;
  const size_t ptr_sz = round_up((rows + 1) * 4, a);
  const size_t idx_sz = round_up(nblocks * idx_bytes, a);
  const size_t val_sz = round_up(nblocks * bk * value_bytes(values), a);
  const size_t scale_sz = values == kSpmmS8 ? round_up(rows * 4, a) : 0;
  m->pool_ = std::move(pool);
  m->block_ = m->pool_->allocate(ptr_sz + idx_sz + val_sz + scale_sz);
  m->nbytes_ = m->pool_->block_bytes(m->block_);
  auto* base = static_cast<char*>(m->block_);
  m->row_ptr_ = reinterpret_cast<uint32_t*>(base);
  m->idx_ = base + ptr_sz;
  m->val_ = base + ptr_sz + idx_sz;
  m->row_scale_ = values == kSpmmS8 ? reinterpret_cast<float*>(base + ptr_sz + idx_sz + val_sz)
                                    : nullptr;

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
