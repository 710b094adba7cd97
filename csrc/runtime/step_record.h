// A step's parameter record in a .fnn file (version 2, fnn_format.h): each kind writes and
// reads its own, through these interfaces, which io/ implements over the file's bytes and
// blob table. The helpers encode the shared pieces (arrays, u8 parameters, geometries) once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "runtime/step.h"

namespace fnn {

class PackedWeights;
class SparseMatrix;

class StepRecordWriter {
 public:
  virtual ~StepRecordWriter() = default;
  virtual void put_raw(const void* p, size_t n) = 0;
  // A reference to the weights' blob (the blob itself is written after the records).
  virtual void put_packed(const PackedWeights& w) = 0;
  virtual void put_sparse(const SparseMatrix& m) = 0;

  template <typename T>
  void put(T v) {
    put_raw(&v, sizeof(T));
  }
  void put_size(size_t v) { put<uint64_t>(v); }
  template <typename T>
  void put_array(const std::vector<T>& v) {  // u32 n, then n values
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    if (!v.empty()) put_raw(v.data(), v.size() * sizeof(T));
  }
  void put_sizes(const std::vector<size_t>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (size_t x : v) put_size(x);
  }
  void put_quant(const QuantIn& q) {
    put<float>(q.scale);
    put<int32_t>(q.zero_point);
  }
  void put_quants(const std::vector<QuantIn>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (const QuantIn& q : v) put_quant(q);
  }
  // One field of a parameter struct (StepKindWith): its encoding by type.
  void put_field(size_t v) { put_size(v); }
  void put_field(bool v) { put<uint8_t>(v ? 1 : 0); }
  void put_field(const QuantIn& q) { put_quant(q); }
  void put_field(const std::vector<QuantIn>& v) { put_quants(v); }
  void put_field(const std::vector<size_t>& v) { put_sizes(v); }
  void put_field(const std::vector<float>& v) { put_array(v); }
  void put_field(const std::vector<int8_t>& v) { put_array(v); }
  void put_field(const Conv2dGeometry& g) { put_conv(g); }
  void put_field(const Pool2dGeometry& g) { put_pool(g); }
  void put_field(const std::shared_ptr<PackedWeights>& w) { put_packed(*w); }
  void put_field(const std::vector<std::shared_ptr<PackedWeights>>& v) {
    put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (const auto& w : v) put_packed(*w);
  }
  void put_field(const std::shared_ptr<SparseMatrix>& m) { put_sparse(*m); }
  // Optional and last in its record: nothing when there is none (the record is then the same
  // as before fused activations existed), else u8 n, then per function u64 op, f32 alpha,
  // beta, lo, hi.
  void put_field(const std::vector<FusedUnary>& v) {
    if (v.empty()) return;
    put<uint8_t>(static_cast<uint8_t>(v.size()));
    for (const FusedUnary& f : v) {
      put_size(f.op);
      for (float x : {f.alpha, f.beta, f.lo, f.hi}) put<float>(x);
    }
  }

  // 15 u64: h w c oh ow oc kh kw sh sw dh dw pad_top pad_left groups
  void put_conv(const Conv2dGeometry& g) {
    for (size_t v : {g.h, g.w, g.c, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pad_top,
                     g.pad_left, g.groups}) {
      put_size(v);
    }
  }
  // 11 u64: h w c oh ow kh kw sh sw pad_top pad_left
  void put_pool(const Pool2dGeometry& g) {
    for (size_t v : {g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.pad_top, g.pad_left}) {
      put_size(v);
    }
  }
};

class StepRecordReader {
 public:
  virtual ~StepRecordReader() = default;
  // n bytes of the record, or fail() when fewer are left.
  virtual const uint8_t* take(size_t n) = 0;
  virtual size_t left() const = 0;
  [[noreturn]] virtual void fail(const std::string& what) const = 0;
  // Claims the blob a put_packed / put_sparse reference names; *slot is set once every blob
  // is checked (before the program is built). `use` names the weights in errors.
  virtual void get_packed(std::shared_ptr<PackedWeights>* slot, const std::string& use) = 0;
  virtual void get_sparse(std::shared_ptr<SparseMatrix>* slot, const std::string& use) = 0;

  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  size_t get_size() {
    const uint64_t v = get<uint64_t>();
    if (v > std::numeric_limits<size_t>::max()) fail("a size does not fit this machine");
    return static_cast<size_t>(v);
  }
  bool get_bool() {
    const uint8_t v = get<uint8_t>();
    if (v > 1) fail("a flag is " + std::to_string(v) + ", not 0 or 1");
    return v == 1;
  }
  // A count of items of item_bytes each, checked against the bytes left before anything is
  // sized by it.
  size_t get_count(size_t item_bytes) {
    const uint32_t n = get<uint32_t>();
    if (item_bytes > 0 && n > left() / item_bytes) {
      fail("a count of " + std::to_string(n) + " items of " + std::to_string(item_bytes) +
           " bytes exceeds the " + std::to_string(left()) + " bytes left");
    }
    return n;
  }
  template <typename T>
  std::vector<T> get_array() {
    std::vector<T> v(get_count(sizeof(T)));
    if (!v.empty()) std::memcpy(v.data(), take(v.size() * sizeof(T)), v.size() * sizeof(T));
    return v;
  }
  std::vector<size_t> get_sizes() {
    std::vector<size_t> v(get_count(8));
    for (size_t& x : v) x = get_size();
    return v;
  }
  QuantIn get_quant() {
    QuantIn q;
    q.scale = get<float>();
    q.zero_point = get<int32_t>();
    return q;
  }
  std::vector<QuantIn> get_quants() {
    std::vector<QuantIn> v(get_count(8));
    for (QuantIn& q : v) q = get_quant();
    return v;
  }
  void get_field(size_t& v) { v = get_size(); }
  void get_field(bool& v) { v = get_bool(); }
  void get_field(QuantIn& q) { q = get_quant(); }
  void get_field(std::vector<QuantIn>& v) { v = get_quants(); }
  void get_field(std::vector<size_t>& v) { v = get_sizes(); }
  void get_field(std::vector<float>& v) { v = get_array<float>(); }
  void get_field(std::vector<int8_t>& v) { v = get_array<int8_t>(); }
  void get_field(Conv2dGeometry& g) { g = get_conv(); }
  void get_field(Pool2dGeometry& g) { g = get_pool(); }
  void get_field(std::shared_ptr<PackedWeights>& w) { get_packed(&w, "packed weights"); }
  void get_field(std::vector<std::shared_ptr<PackedWeights>>& v) {
    v.resize(get_count(24));  // a reference takes 24 bytes
    for (size_t i = 0; i < v.size(); ++i) {
      get_packed(&v[i], v.size() == 1 ? std::string("packed weights") : "packed weights of group " + std::to_string(i));
    }
  }
  void get_field(std::shared_ptr<SparseMatrix>& m) { get_sparse(&m, "sparse matrix"); }
  void get_field(std::vector<FusedUnary>& v) {
    v.clear();
    if (left() == 0) return;
    const uint8_t n = get<uint8_t>();
    if (n == 0 || n > kMaxFusedUnary) {
      fail("a count of " + std::to_string(n) + " fused activations (1 to " + std::to_string(kMaxFusedUnary) +
           "; none is written as nothing)");
    }
    v.resize(n);
    for (FusedUnary& f : v) {
      f.op = get_size();
      for (float* x : {&f.alpha, &f.beta, &f.lo, &f.hi}) *x = get<float>();
    }
  }

  Conv2dGeometry get_conv() {
    Conv2dGeometry g;
    for (size_t* f : {&g.h, &g.w, &g.c, &g.oh, &g.ow, &g.oc, &g.kh, &g.kw, &g.sh, &g.sw, &g.dh,
                      &g.dw, &g.pad_top, &g.pad_left, &g.groups}) {
      *f = get_size();
    }
    return g;
  }
  Pool2dGeometry get_pool() {
    Pool2dGeometry g;
    for (size_t* f : {&g.h, &g.w, &g.c, &g.oh, &g.ow, &g.kh, &g.kw, &g.sh, &g.sw, &g.pad_top,
                      &g.pad_left}) {
      *f = get_size();
    }
    return g;
  }
};

}  // namespace fnn
