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
  const size_t data_bytes = round_up(panels_ * k_padded_ * kGemmNR * elem_bytes(kind_), Pool::kAlignment);
  const bool int8_extras = kind_ == WeightKind::kInt8;
  auto* base = static_cast<char*>(block);
  data_ = base;
  bias_ = reinterpret_cast<float*>(base + data_bytes);
  if (int8_extras) {
    colsum_ = reinterpret_cast<int32_t*>(base + data_bytes + vec_bytes);
    w_scale_ = reinterpret_cast<float*>(base + data_bytes + 2 * vec_bytes);
  }
}

size_t PackedWeights::layout_bytes(WeightKind kind, size_t k, size_t n) {
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
                                                   std::shared_ptr<const void> owner) {
  if (k == 0 || n == 0) throw std::invalid_argument("packed weights need K, N >= 1");
  if (kind == WeightKind::kInt8 && k > kMaxInt8K) {
    throw std::invalid_argument("int8 weights with K = " + std::to_string(k) + " > 65536");
  }
  if (reinterpret_cast<uintptr_t>(block) % Pool::kAlignment != 0) {
    throw std::invalid_argument("packed weights must be 64-byte aligned");
  }
  size_t want;
  try {
    want = layout_bytes(kind, k, n);
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
  // Nothing writes packed weights after packing: the const_cast never leads to a store.
  p->set_sections(const_cast<void*>(block));
  return p;
}

PackedWeights::~PackedWeights() {
  if (block_ != nullptr) pool_->deallocate(block_);
}

std::shared_ptr<PackedWeights> PackedWeights::pack_float(WeightKind kind, const float* w,
                                                         size_t k, size_t n, const float* bias,
                                                         std::shared_ptr<Pool> pool) {
  if (kind == WeightKind::kInt8) throw std::invalid_argument("pack_float: int8 is not a float kind");
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
      break;
  }
  throw std::invalid_argument("pack_float_panels: int8 is not a float kind");
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
  for (size_t kk = 0; kk < k_; ++kk) {
    for (size_t col = 0; col < n_; ++col) {
      const size_t idx = packed_index(kind_, k_padded_, kk, col);
      float v = 0.f;
      switch (kind_) {
        case WeightKind::kF32: v = static_cast<const float*>(data_)[idx]; break;
        case WeightKind::kF16: v = f16_to_f32(static_cast<const uint16_t*>(data_)[idx]); break;
        case WeightKind::kBf16: v = bf16_to_f32(static_cast<const uint16_t*>(data_)[idx]); break;
        case WeightKind::kInt8: v = static_cast<const int8_t*>(data_)[idx]; break;
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
