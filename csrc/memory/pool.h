// Pool: the allocator behind every buffer frugalnn hands out that is not part of a planned arena.
//
// Theory of operation
// -------------------
// Memory comes from the OS in *regions* (mmap on POSIX; the C heap in sanitizer builds so ASan
// sees the bounds). A region is carved into *blocks* laid end to end, each led by a 64-byte
// header, and closed by a 64-byte sentinel header:
//
//     [region hdr][hdr|data ....][hdr|data ..][hdr|data ......][sentinel]
//
// Every data pointer is 64-byte aligned, and the 64 bytes after the (64-rounded) data are
// always mapped (they are the next header or the sentinel), so SIMD code may over-read a full
// vector past the end of any block. Headers carry boundary tags (size, previous block), which
// makes freeing O(1) and lets a freed block merge with free neighbours (coalescing).
//
// Free blocks sit in segregated lists ("bins"). Small blocks, up to kExactBinMax bytes, have
// one bin per size — the size classes — so a small request is served exactly by the first
// block of its bin. Larger blocks are binned four bins per power of two; a request scans its
// own bin for the best (smallest) fit, then takes the smallest block of the next non-empty bin
// (found through a bitmap). A block much larger than the request is split and the remainder
// goes back to a bin. This is best fit with splitting and coalescing, TLSF-style, with no heap
// allocation of its own: all bookkeeping lives in the headers.
//
// When no free block fits, the pool maps a new region: at least kMinRegionBytes for small
// requests (amortising system calls), exactly the request for large ones. trim() unmaps every
// region that is entirely free. A byte budget caps the bytes reserved from the OS: a request
// that would exceed it first releases wholly free regions if that is enough, and otherwise
// throws PoolBudgetError leaving the pool exactly as it was.
//
// One mutex guards the pool; it is held for a handful of pointer operations per call.
// A Pool is shared by everything it handed out (std::shared_ptr), so blocks may outlive the
// Python object that created the pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

namespace fnn {

// The budget would be exceeded. Maps to Python's MemoryError.
class PoolBudgetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PoolStats {
  size_t bytes_in_use = 0;       // data bytes of live blocks (64-rounded requests)
  size_t requested_bytes = 0;    // bytes callers asked for in live blocks
  size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use since creation / reset_peak
  size_t reserved_bytes = 0;     // bytes held from the OS
  size_t free_bytes = 0;         // data bytes of free blocks
  size_t largest_free_block = 0;
  size_t blocks = 0;             // live blocks
  size_t regions = 0;
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t os_allocations = 0;   // regions mapped
  uint64_t os_frees = 0;         // regions unmapped
  uint64_t cache_hits = 0;       // allocations served from free blocks
  uint64_t cache_misses = 0;     // allocations that had to map a region
  size_t budget = 0;             // 0: no budget
  // 1 - largest free block / all free bytes: 0 when free memory is one block (or none).
  double fragmentation() const;
};

class Pool {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kHeaderBytes = 64;
  // Readable (not writable) bytes guaranteed after the end of every block.
  static constexpr size_t kTailPadBytes = 64;
  static constexpr size_t kExactBinMax = 4096;
  static constexpr size_t kMinRegionBytes = size_t{1} << 20;
  // Requests above this are refused up front, so size arithmetic never overflows.
  static constexpr size_t kMaxRequestBytes = size_t{1} << 56;

  // budget: maximum bytes reserved from the OS, 0 for none.
  explicit Pool(size_t budget = 0);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A 64-byte aligned block of at least nbytes (nbytes may be 0). Throws PoolBudgetError,
  // std::length_error (absurd size) or std::bad_alloc (the OS refused).
  void* allocate(size_t nbytes);
  // Returns a block to the pool. Throws std::invalid_argument for a pointer that is not a live
  // block of this pool (a double free is caught this way when the header is intact).
  void deallocate(void* p);
  // Usable bytes of a live block (>= the request).
  size_t block_bytes(const void* p) const;

  // Maps a region so that later requests up to nbytes are served without the OS.
  void reserve(size_t nbytes);
  // Unmaps every region with no live block; returns the bytes given back.
  size_t trim();

  PoolStats stats() const;
  void reset_peak();
  size_t budget() const;
  void set_budget(size_t budget);

  // OS regions held by all pools in the process: for leak checks in tests.
  static size_t live_os_regions();
  static size_t live_os_bytes();

 private:
  struct Block;
  struct Region;

  static constexpr int kNumExactBins = static_cast<int>(kExactBinMax / kAlignment);  // 64
  static constexpr int kSubBins = 4;
  static constexpr int kNumBins = kNumExactBins + 64 * kSubBins;
  static constexpr int kBitmapWords = (kNumBins + 63) / 64;

  static int bin_of(size_t block_size);
  void bin_insert(Block* b);
  void bin_remove(Block* b);
  Block* find_fit(size_t block_size);
  Block* map_region(size_t request, size_t block_size, bool exact);
  size_t trim_locked();
  size_t wholly_free_bytes_locked() const;
  void split(Block* b, size_t block_size);
  void release_region(Region* r);
  Block* checked_block(const void* p) const;

  mutable std::mutex mu_;
  Block* bins_[kNumBins] = {};
  uint64_t bitmap_[kBitmapWords] = {};
  Region* regions_ = nullptr;
  PoolStats st_;
};

}  // namespace fnn
