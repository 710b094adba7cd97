// XXH64 (Yann Collet's xxHash, 64-bit variant), written from its specification: the .fnn
// checksum. Chosen over FNV-1a because it hashes 8 bytes per multiply in four independent
// lanes (GB/s, so verifying every blob on load costs little next to reading it) and because
// any C reader can check a file with the stock xxhash library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  uint64_t v_[4];
  uint64_t total_ = 0;
  unsigned char buf_[32];
  size_t buffered_ = 0;
  uint64_t seed_;
};

uint64_t xxh64(const void* data, size_t n, uint64_t seed = 0);

}  // namespace fnn
