// What the .fnn reader's step parsers (version 1 and 2) share. How steps' records claim the
// file's blobs: each reference (blob index + the layout it
// declares) is read and the blob marked as used at once; the weights themselves are made
// (views of the checked bytes) only after every blob's checksum holds, into the slots the
// references named.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "io/byte_io.h"
#include "kernels/gemm/gemm.h"
#include "kernels/sparse/sparse_matrix.h"
#include "runtime/program_check.h"
#include "runtime/step.h"

namespace fnn {

struct FnnBlobEntry {
  uint64_t offset, size, checksum;
  uint32_t kind;
  std::string use;  // set when a step claims it
};

class FnnBlobClaims {
 public:
  explicit FnnBlobClaims(std::vector<FnnBlobEntry>& blobs) : blobs_(blobs) {}

  // A packed-weights reference (24 bytes): u32 blob, u8 WeightKind, u8 has_bias, u16 0 (codebook:
  // u8 bits, u8 per_channel), u64 k, u64 n.
  void packed(ByteReader& r, std::shared_ptr<PackedWeights>* slot, const std::string& use) {
    PackedRef ref;
    ref.slot = slot;
    const uint32_t blob = r.get<uint32_t>();
    const uint8_t wk = r.get<uint8_t>();
    if (wk > static_cast<uint8_t>(WeightKind::kCodebook)) r.fail(use + ": unknown weight kind " + std::to_string(wk));
    ref.kind = static_cast<WeightKind>(wk);
    ref.has_bias = r.get_flag();
    if (ref.kind == WeightKind::kCodebook) {
      ref.bits = r.get<uint8_t>();
      if (ref.bits < PackedWeights::kMinCodebookBits || ref.bits > PackedWeights::kMaxCodebookBits) {
        r.fail(use + ": codebook bits " + std::to_string(ref.bits) + ", expected 2..8");
      }
      ref.per_channel = r.get_flag();
      ref.blob = claim_index(r, blob, fnn_format::kBlobCodebookWeights, use);
    } else {
      r.reserved<uint16_t>();
      ref.blob = claim_index(r, blob, fnn_format::kBlobPackedWeights, use);
    }
    ref.k = r.get_size();
    ref.n = r.get_size();
    packed_.push_back(ref);
  }
  // A sparse-matrix reference (32 bytes): u32 blob, u8 bk, u8 SpmmValueKind, u16 0, u64 rows,
  // u64 cols, u64 nblocks.
  void sparse(ByteReader& r, std::shared_ptr<SparseMatrix>* slot, const std::string& use) {
    SparseRef ref;
    ref.slot = slot;
    ref.blob = claim(r, fnn_format::kBlobSparseMatrix, use);
    ref.bk = r.get<uint8_t>();
    const uint8_t v = r.get<uint8_t>();
    if (v >= kSpmmNumValueKinds) r.fail(use + ": unknown sparse value kind " + std::to_string(v));
    ref.values = static_cast<SpmmValueKind>(v);
    r.reserved<uint16_t>();
    ref.rows = r.get_size();
    ref.cols = r.get_size();
    ref.nblocks = r.get_size();
    sparse_.push_back(ref);
  }
  // Fills every slot with a view of its blob (after the checksums); throws FormatError naming
  // the blob whose bytes do not hold the layout its reference declares.
  void resolve(const uint8_t* d, const std::shared_ptr<const void>& owner) const {
    for (const PackedRef& r : packed_) {
      const FnnBlobEntry& b = blobs_[r.blob];
      try {
        *r.slot = PackedWeights::view(r.kind, r.k, r.n, r.has_bias, d + b.offset, b.size, owner, r.bits,
                                      r.per_channel);
      } catch (const std::invalid_argument& e) {
        throw FormatError("blob " + std::to_string(r.blob) + " (" + b.use + "): " + e.what());
      }
    }
    for (const SparseRef& r : sparse_) {
      const FnnBlobEntry& b = blobs_[r.blob];
      try {
        *r.slot = SparseMatrix::view(r.rows, r.cols, r.bk, r.values, r.nblocks, d + b.offset, b.size, owner);
      } catch (const std::invalid_argument& e) {
        throw FormatError("blob " + std::to_string(r.blob) + " (" + b.use + "): " + e.what());
      }
    }
  }

 private:
  struct PackedRef {
    std::shared_ptr<PackedWeights>* slot;
    size_t blob;
    WeightKind kind;
    bool has_bias;
    size_t k, n;
    uint32_t bits = 0;         // codebook
    bool per_channel = false;  // codebook
  };
  struct SparseRef {
    std::shared_ptr<SparseMatrix>* slot;
    size_t blob;
    size_t bk;
    SpmmValueKind values;
    size_t rows, cols, nblocks;
  };

  size_t claim(ByteReader& r, uint32_t kind, const std::string& use) {
    return claim_index(r, r.get<uint32_t>(), kind, use);
  }
  size_t claim_index(ByteReader& r, uint32_t b, uint32_t kind, const std::string& use) {
    if (b >= blobs_.size()) {
      r.fail(use + ": blob " + std::to_string(b) + " does not exist (" + std::to_string(blobs_.size()) + " blobs)");
    }
    if (blobs_[b].kind != kind) r.fail(use + ": blob " + std::to_string(b) + " holds the other kind of weights");
    if (!blobs_[b].use.empty()) r.fail(use + ": blob " + std::to_string(b) + " is already the " + blobs_[b].use);
    blobs_[b].use = use;
    return b;
  }

  std::vector<FnnBlobEntry>& blobs_;
  std::vector<PackedRef> packed_;
  std::vector<SparseRef> sparse_;
};

// The fields every step record holds after its kind: str name, str precision, u32 n_in,
// i32 in[n_in], i32 out, f32 lo, f32 hi. Returns "step i 'name'" for messages.
inline std::string read_step_io(ByteReader& r, size_t index, Step& s, std::string* precision) {
  s.name = r.get_str();
  *precision = r.get_str();
  s.in.resize(r.get_count(4));
  for (int& t : s.in) t = r.get<int32_t>();
  s.out = r.get<int32_t>();
  s.lo = r.get<float>();
  s.hi = r.get<float>();
  return "step " + std::to_string(index) + " '" + printable_name(s.name) + "'";
}

// A version 1 step record (fnn_format.h's appendix): one fixed layout for every kind, turned
// into the kind's typed parameters. Fields the kind does not use must be empty.
Step read_fnn_step_v1(ByteReader& r, size_t index, FnnBlobClaims& claims, std::string* precision);

}  // namespace fnn
