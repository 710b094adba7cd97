// Little-endian encoding of .fnn header fields: a growing byte buffer for the writer, and a
// cursor for the reader that checks every read against the bytes left, so a corrupted length
// or count can neither read out of bounds nor make the reader allocate more than the file
// could describe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io/fnn_format.h"

namespace fnn {

class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &v, sizeof(T));
  }
  void put_bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void put_str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    put_bytes(s.data(), s.size());
  }
  // A u32 length field to fill in later (records).
  size_t reserve_u32() {
    put<uint32_t>(0);
    return bytes_.size() - 4;
  }
  void patch_u32(size_t at, uint32_t v) { std::memcpy(bytes_.data() + at, &v, 4); }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  // `where` names the region in error messages ("record 'STEP'").
  ByteReader(const uint8_t* p, size_t n, std::string where) : p_(p), n_(n), where_(std::move(where)) {}

  void set_where(std::string where) { where_ = std::move(where); }
  size_t left() const { return n_ - pos_; }
  size_t pos() const { return pos_; }

  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // A reserved field: must be zero.
  template <typename T>
  void reserved() {
    if (get<T>() != 0) fail("a reserved field is not zero");
  }
  // A u64 size, refused when it does not fit this machine's size_t.
  size_t get_size() {
    const uint64_t v = get<uint64_t>();
    if (v > std::numeric_limits<size_t>::max()) fail("a size does not fit this machine");
    return static_cast<size_t>(v);
  }
  // A u8 flag: 0 or 1, nothing else.
  bool get_flag() {
    const uint8_t v = get<uint8_t>();
    if (v > 1) fail("a flag is " + std::to_string(v) + ", not 0 or 1");
    return v == 1;
  }
  const uint8_t* take(size_t n) {
    need(n);
    const uint8_t* at = p_ + pos_;
    pos_ += n;
    return at;
  }
  std::string get_str() {
    const uint32_t n = get<uint32_t>();
    const auto* s = reinterpret_cast<const char*>(take(n));
    std::string out(s, n);
    if (!valid_utf8(out)) fail("a string is not valid UTF-8");
    return out;
  }
  // A count of items, each at least min_item_bytes long: checked against the bytes left
  // before anything is sized by it.
  size_t get_count(size_t min_item_bytes) {
    const uint32_t n = get<uint32_t>();
    if (min_item_bytes > 0 && n > left() / min_item_bytes) {
      fail("a count of " + std::to_string(n) + " items of at least " +
           std::to_string(min_item_bytes) + " bytes exceeds the " + std::to_string(left()) +
           " bytes left");
    }
    return n;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(where_ + " (at byte " + std::to_string(pos_) + "): " + what);
  }

  static bool valid_utf8(const std::string& s) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
      const auto c = static_cast<unsigned char>(s[i]);
      size_t len;
      uint32_t cp;
      if (c < 0x80) {
        ++i;
        continue;
      } else if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F;
      } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F;
      } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07;
      } else {
        return false;
      }
      if (n - i < len) return false;
      for (size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3F);
      }
      // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
      static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      i += len;
    }
    return true;
  }

 private:
  void need(size_t k) const {
    if (k > left()) {
      fail("truncated: needs " + std::to_string(k) + " bytes, " + std::to_string(left()) + " left");
    }
  }

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  std::string where_;
};

}  // namespace fnn
