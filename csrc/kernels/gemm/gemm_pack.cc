// Weight packing: K x N row-major -> 16-column panels in the micro-kernels' layouts.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/common/half.h"

namespace fnn {
namespace {

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

size_t group_of(WeightKind kind) {
  switch (kind) {
    case WeightKind::kBf16: return 2;
    case WeightKind::kInt8: return 4;
    default: return 1;
  }
}

size_t elem_bytes(WeightKind kind) {
  switch (kind) {
    case WeightKind::kF32: return 4;
    case WeightKind::kInt8: return 1;
    default: return 2;
  }
}

// Offset (in elements) of w[kk][col] inside the packed panels.
size_t packed_index(WeightKind kind, size_t k_padded, size_t kk, size_t col) {
  const size_t p = col / kGemmNR, j = col % kGemmNR;
  const size_t g = group_of(kind);
  return ((p * (k_padded / g) + kk / g) * kGemmNR + j) * g + kk % g;
}

}  // namespace

const char* weight_kind_name(WeightKind kind) {
  switch (kind) {
    case WeightKind::kF32: return "f32";
    case WeightKind::kF16: return "f16";
    case WeightKind::kBf16: return "bf16";
    case WeightKind::kInt8: return "int8";
    case WeightKind::kCodebook: return "codebook";
  }
  return "?";
}

void PackedWeights::allocate(std::shared_ptr<Pool> pool) {
  nbytes_ = layout_bytes(kind_, k_, n_);
  pool_ = std::move(pool);
  block_ = pool_->allocate(nbytes_);
  std::memset(block_, 0, nbytes_);
  set_sections(block_);
}

// Points the section pointers into a block holding the layout.
void PackedWeights::set_sections(void* block) {
  const size_t vec_bytes = round_up(panels_ * kGemmNR * 4, Pool::kAlignment);
  const size_t data_bytes =
      kind_ == WeightKind::kCodebook
          ? round_up(panels_ * k_padded_ * index_row_bytes(), Pool::kAlignment)
          : round_up(panels_ * k_padded_ * kGemmNR * elem_bytes(kind_), Pool::kAlignment);
  const bool int8_extras = kind_ == WeightKind::kInt8;
  auto* base = static_cast<char*>(block);
  data_ = base;
  bias_ = reinterpret_cast<float*>(base + data_bytes);
  if (int8_extras) {
    colsum_ = reinterpret_cast<int32_t*>(base + data_bytes + vec_bytes);
    w_scale_ = reinterpret_cast<float*>(base + data_bytes + 2 * vec_bytes);
  }
  if (kind_ == WeightKind::kCodebook) w_scale_ = reinterpret_cast<float*>(base + data_bytes + vec_bytes);
}

namespace {

void check_codebook_bits(uint32_t bits) {
  if (bits < PackedWeights::kMinCodebookBits || bits > PackedWeights::kMaxCodebookBits) {
    throw std::invalid_argument("codebook weights need bits in 2..8, got " + std::to_string(bits));
  }
}

// Codebook layout: index rows (8 or 16 bytes per k per panel), bias, tables (2^bits floats,
// or per channel one per padded column), each padded to 64 bytes.
size_t codebook_layout(size_t k, size_t n, uint32_t bits, bool per_channel) {
  check_codebook_bits(bits);
  const size_t panels = n / kGemmNR + (n % kGemmNR != 0);
  const size_t row_bytes = bits <= 4 ? 8 : 16;
  const size_t limit = size_t{1} << 60;
  size_t data = 0;
  if (__builtin_mul_overflow(panels, k, &data) || __builtin_mul_overflow(data, row_bytes, &data) ||
      data > limit || panels > limit / (kGemmNR * 4 << 8)) {
    throw std::length_error("codebook weights of K = " + std::to_string(k) + ", N = " +
                            std::to_string(n) + " overflow the address space");
  }
  const size_t tables = (per_channel ? panels * kGemmNR : 1) * (size_t{4} << bits);
  const size_t a = Pool::kAlignment;
  return round_up(data, a) + round_up(panels * kGemmNR * 4, a) + round_up(tables, a);
}

}  // namespace

size_t PackedWeights::layout_bytes(WeightKind kind, size_t k, size_t n, uint32_t bits,
                                   bool per_channel) {
  if (kind == WeightKind::kCodebook) return codebook_layout(k, n, bits, per_channel);
  const size_t panels = n / kGemmNR + (n % kGemmNR != 0);
  const size_t g = group_of(kind);
  const size_t k_padded = k / g * g + (k % g != 0 ? g : 0);
  // Sizes come from files too: every product is checked, and a 2^62 bound leaves room for
  // the round-ups and the sum.
  const size_t limit = size_t{1} << 62;
  size_t data = 0, vec = 0;
  if (k_padded < k || __builtin_mul_overflow(panels, k_padded, &data) ||
      __builtin_mul_overflow(data, kGemmNR * elem_bytes(kind), &data) || data > limit ||
      __builtin_mul_overflow(panels, kGemmNR * 4, &vec) || vec > limit / 4) {
    throw std::length_error("packed weights of K = " + std::to_string(k) + ", N = " +
                            std::to_string(n) + " overflow the address space");
  }
  const size_t a = Pool::kAlignment;
  return round_up(data, a) + round_up(vec, a) * (kind == WeightKind::kInt8 ? 3 : 1);
}

std::shared_ptr<PackedWeights> PackedWeights::shaped(WeightKind kind, size_t k, size_t n) {
  std::shared_ptr<PackedWeights> p(new PackedWeights());
  p->kind_ = kind;
  p->k_ = k;
  p->n_ = n;
  p->panels_ = (n + kGemmNR - 1) / kGemmNR;
  p->k_padded_ = round_up(k, group_of(kind));
  return p;
}

std::shared_ptr<PackedWeights> PackedWeights::view(WeightKind kind, size_t k, size_t n,
                                                   bool has_bias, const void* block,
                                                   size_t block_bytes,
                                                   std::shared_ptr<const void> owner,
                                                   uint32_t bits, bool per_channel) {
  if (k == 0 || n == 0) throw std::invalid_argument("packed weights need K, N >= 1");
  if (kind == WeightKind::kCodebook) check_codebook_bits(bits);
  if (kind == WeightKind::kInt8 && k > kMaxInt8K) {
    throw std::invalid_argument("int8 weights with K = " + std::to_string(k) + " > 65536");
  }
  if (reinterpret_cast<uintptr_t>(block) % Pool::kAlignment != 0) {
    throw std::invalid_argument("packed weights must be 64-byte aligned");
  }
  size_t want;
  try {
    want = layout_bytes(kind, k, n, bits, per_channel);
  } catch (const std::length_error& e) {
    throw std::invalid_argument(e.what());
  }
  if (want != block_bytes) {
    throw std::invalid_argument(std::string(weight_kind_name(kind)) + " weights of K = " +
                                std::to_string(k) + ", N = " + std::to_string(n) + " take " +
                                std::to_string(want) + " bytes, the blob has " +
                                std::to_string(block_bytes));
  }
  std::shared_ptr<PackedWeights> p = shaped(kind, k, n);
  p->nbytes_ = want;
  p->has_bias_ = has_bias;
  p->owner_ = std::move(owner);
  if (kind == WeightKind::kCodebook) {
    p->bits_ = bits;
    p->per_channel_ = per_channel;
    // The decode kernels use indices as table offsets: each one must be inside its table.
    const auto* idx = static_cast<const uint8_t*>(block);
    const size_t nbytes = p->panels_ * k * p->index_row_bytes();
    const unsigned limit = 1u << bits;
    for (size_t i = 0; i < nbytes && bits < 8 && bits != 4; ++i) {
      const unsigned lo = bits < 4 ? idx[i] & 0x0Fu : idx[i], hi = idx[i] >> 4;
      if (lo >= limit || (bits < 4 && hi >= limit)) {
        throw std::invalid_argument("codebook index byte " + std::to_string(i) + " (" +
                                    std::to_string(idx[i]) + ") holds an index >= 2^" +
                                    std::to_string(bits));
      }
    }
  }
  // Nothing writes packed weights after packing: the const_cast never leads to a store.
  p->set_sections(const_cast<void*>(block));
  return p;
}

PackedWeights::~PackedWeights() {
  if (block_ != nullptr) pool_->deallocate(block_);
}

std::shared_ptr<PackedWeights> PackedWeights::pack_codebook(const uint8_t* idx, size_t k,
                                                            size_t n, uint32_t bits,
                                                            const float* centroids,
                                                            bool per_channel, const float* bias,
                                                            std::shared_ptr<Pool> pool) {
  check_codebook_bits(bits);
  const size_t entries = size_t{1} << bits;
  for (size_t i = 0; i < k * n; ++i) {
    if (idx[i] >= entries) {
      throw std::invalid_argument("codebook index " + std::to_string(idx[i]) + " at " +
                                  std::to_string(i) + " is not < 2^" + std::to_string(bits));
    }
  }
  std::shared_ptr<PackedWeights> p = shaped(WeightKind::kCodebook, k, n);
  p->bits_ = bits;
  p->per_channel_ = per_channel;
  p->nbytes_ = codebook_layout(k, n, bits, per_channel);
  p->pool_ = std::move(pool);
  p->block_ = p->pool_->allocate(p->nbytes_);
  std::memset(p->block_, 0, p->nbytes_);
  p->set_sections(p->block_);
  auto* dst = static_cast<uint8_t*>(p->data_);
  const size_t row_bytes = p->index_row_bytes();
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t col = 0; col < n; ++col) {
      const size_t pan = col / kGemmNR, j = col % kGemmNR;
      uint8_t* row = dst + (pan * k + kk) * row_bytes;
      const uint8_t v = idx[kk * n + col];
      if (bits <= 4) {
        row[j % 8] = static_cast<uint8_t>(row[j % 8] | (v << (j / 8 * 4)));
      } else {
        row[j] = v;
      }
    }
  }
  std::memcpy(p->w_scale_, centroids, (per_channel ? n : 1) * entries * sizeof(float));
  if (bias != nullptr) {
    p->has_bias_ = true;
    std::memcpy(p->bias_, bias, n * sizeof(float));
  }
  return p;
}

std::shared_ptr<PackedWeights> PackedWeights::pack_float(WeightKind kind, const float* w,
                                                         size_t k, size_t n, const float* bias,
                                                         std::shared_ptr<Pool> pool) {
  if (kind == WeightKind::kInt8 || kind == WeightKind::kCodebook) {
    throw std::invalid_argument(std::string("pack_float: ") + weight_kind_name(kind) + " is not a float kind");
  }
  std::shared_ptr<PackedWeights> p = shaped(kind, k, n);
  p->allocate(std::move(pool));
  pack_float_panels(kind, w, k, n, /*k_stride=*/n, /*n_stride=*/1, p->data_);
  if (bias != nullptr) {
    p->has_bias_ = true;
    std::memcpy(p->bias_, bias, n * sizeof(float));
  }
  return p;
}

size_t float_panels_bytes(WeightKind kind, size_t k, size_t n) {
  const size_t g = group_of(kind);
  return (n + kGemmNR - 1) / kGemmNR * round_up(k, g) * kGemmNR * elem_bytes(kind);
}

namespace {

// Writes dst in order (panel, k group, column, k within the group): packed_index's layout
// walked sequentially, padding included. Reads of a transposed source (n_stride = K) touch
// 16 rows of it per k, each cache line reused over the next k values.
template <size_t kGroup, typename T, typename Convert>
void pack_panels(const float* src, size_t k, size_t n, size_t k_stride, size_t n_stride, T* dst,
                 Convert convert) {
  const size_t kp = round_up(k, kGroup), panels = (n + kGemmNR - 1) / kGemmNR;
  for (size_t p = 0; p < panels; ++p) {
    const size_t cols = std::min(kGemmNR, n - p * kGemmNR);
    const float* sp = src + p * kGemmNR * n_stride;
    for (size_t kg = 0; kg < kp; kg += kGroup) {
      for (size_t j = 0; j < kGemmNR; ++j) {
        for (size_t e = 0; e < kGroup; ++e) {
          const size_t kk = kg + e;
          *dst++ = convert(j < cols && kk < k ? sp[kk * k_stride + j * n_stride] : 0.f);
        }
      }
    }
  }
}

}  // namespace

void pack_float_panels(WeightKind kind, const float* src, size_t k, size_t n, size_t k_stride,
                       size_t n_stride, void* dst) {
  switch (kind) {
    case WeightKind::kF32:
      pack_panels<1>(src, k, n, k_stride, n_stride, static_cast<float*>(dst), [](float v) { return v; });
      return;
    case WeightKind::kF16:
      pack_panels<1>(src, k, n, k_stride, n_stride, static_cast<uint16_t*>(dst), f32_to_f16);
      return;
    case WeightKind::kBf16:
      pack_panels<2>(src, k, n, k_stride, n_stride, static_cast<uint16_t*>(dst), f32_to_bf16);
      return;
    case WeightKind::kInt8:
    case WeightKind::kCodebook:
      break;
  }
  throw std::invalid_argument("pack_float_panels: not a float kind");
}

std::shared_ptr<PackedWeights> PackedWeights::pack_int8(const int8_t* w, size_t k, size_t n,
                                                        const float* w_scales, size_t n_scales,
                                                        const float* bias,
                                                        std::shared_ptr<Pool> pool) {
  if (k > kMaxInt8K) {
    throw std::invalid_argument("pack_int8: K = " + std::to_string(k) +
                                " exceeds 65536, beyond which int32 accumulation may overflow");
  }
  if (n_scales != 1 && n_scales != n) {
    throw std::invalid_argument("pack_int8: need 1 or N weight scales");
  }
  std::shared_ptr<PackedWeights> p = shaped(WeightKind::kInt8, k, n);
  p->allocate(std::move(pool));
  auto* dst = static_cast<int8_t*>(p->data_);
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t col = 0; col < n; ++col) {
      const int8_t v = w[kk * n + col];
      dst[packed_index(WeightKind::kInt8, p->k_padded_, kk, col)] = v;
      p->colsum_[col] += v;
    }
  }
  for (size_t col = 0; col < n; ++col) p->w_scale_[col] = w_scales[n_scales == 1 ? 0 : col];
  if (bias != nullptr) {
    p->has_bias_ = true;
    std::memcpy(p->bias_, bias, n * sizeof(float));
  }
  return p;
}

std::vector<float> PackedWeights::unpack_float() const {
  std::vector<float> out(k_ * n_);
  if (kind_ == WeightKind::kCodebook) {
    const auto* idx = static_cast<const uint8_t*>(data_);
    const size_t row_bytes = index_row_bytes();
    for (size_t kk = 0; kk < k_; ++kk) {
      for (size_t col = 0; col < n_; ++col) {
        const size_t pan = col / kGemmNR, j = col % kGemmNR;
        const uint8_t* row = idx + (pan * k_ + kk) * row_bytes;
        const unsigned i = bits_ <= 4 ? (row[j % 8] >> (j / 8 * 4)) & 0x0Fu : row[j];
        out[kk * n_ + col] = w_scale_[(per_channel_ ? col << bits_ : 0) + i];
      }
    }
    return out;
  }
  for (size_t kk = 0; kk < k_; ++kk) {
    for (size_t col = 0; col < n_; ++col) {
      const size_t idx = packed_index(kind_, k_padded_, kk, col);
      float v = 0.f;
      switch (kind_) {
        case WeightKind::kF32: v = static_cast<const float*>(data_)[idx]; break;
        case WeightKind::kF16: v = f16_to_f32(static_cast<const uint16_t*>(data_)[idx]); break;
        case WeightKind::kBf16: v = bf16_to_f32(static_cast<const uint16_t*>(data_)[idx]); break;
        case WeightKind::kInt8: v = static_cast<const int8_t*>(data_)[idx]; break;
        case WeightKind::kCodebook: break;  // decoded above
      }
      out[kk * n_ + col] = v;
    }
  }
  return out;
}

std::vector<int8_t> PackedWeights::unpack_int8() const {
  if (kind_ != WeightKind::kInt8) throw std::invalid_argument("unpack_int8: not int8 weights");
  std::vector<int8_t> out(k_ * n_);
  for (size_t kk = 0; kk < k_; ++kk) {
    for (size_t col = 0; col < n_; ++col) {
      out[kk * n_ + col] =
          static_cast<const int8_t*>(data_)[packed_index(kind_, k_padded_, kk, col)];
    }
  }
  return out;
}

}  // namespace fnn
