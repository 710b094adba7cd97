#include "memory/pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#if defined(_WIN32)
#include <malloc.h>
#else
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FNN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FNN_ASAN 1
#endif
#endif
#if FNN_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace fnn {

struct Pool::Block {
  uint64_t magic;   // kUsedMagic or kFreeMagic, xor the header's address
  size_t size;      // bytes of the block including this header; 0 for the sentinel
  Block* prev;      // previous block of the region, null for the first
  Region* region;
  Block* next_free;
  Block* prev_free;
  size_t requested;
  uint32_t flags;
  int32_t bin;
};

struct Pool::Region {
  Region* next;
  Region* prev;
  size_t bytes;
  Block* first;
};

namespace {

constexpr uint64_t kUsedMagic = 0x6672756761'6c5553ull;  // "frugalUS"
constexpr uint64_t kFreeMagic = 0x6672756761'6c4652ull;  // "frugalFR"
constexpr uint32_t kFlagFree = 1;
constexpr uint32_t kFlagSentinel = 2;
constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeRegionBytes = size_t{4} << 20;
constexpr size_t kMinBlock = Pool::kHeaderBytes + Pool::kAlignment;

std::atomic<size_t> g_live_regions{0};
std::atomic<size_t> g_live_bytes{0};

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void poison(void* p, size_t n) {
#if FNN_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

void unpoison(void* p, size_t n) {
#if FNN_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

void* os_map(size_t bytes) {
#if defined(_WIN32)
  return _aligned_malloc(bytes, kPage);
#elif FNN_POOL_USE_MALLOC
  void* p = nullptr;
  return posix_memalign(&p, kPage, bytes) == 0 ? p : nullptr;
#else
#if defined(MADV_HUGEPAGE)
  if (bytes >= kHugeRegionBytes) {
    // Large regions on 2 MiB boundaries with transparent huge pages: a tensor's first touch
    // faults 512x fewer pages and later passes miss the TLB 512x less. Only regions this
    // large, so rounding a touch up to 2 MiB costs little.
    const size_t span = bytes + kHugePage;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const size_t tail = start + span - (aligned + bytes);
    if (tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    void* p = reinterpret_cast<void*>(aligned);
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
  }
#endif
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#endif
}

void os_unmap(void* p, size_t bytes) {
#if defined(_WIN32)
  (void)bytes;
  _aligned_free(p);
#elif FNN_POOL_USE_MALLOC
  (void)bytes;
  std::free(p);
#else
  munmap(p, bytes);
#endif
}

template <typename T>
T* at(void* base, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

double PoolStats::fragmentation() const {
  if (free_bytes == 0) return 0.0;
  return 1.0 - static_cast<double>(largest_free_block) / static_cast<double>(free_bytes);
}

Pool::Pool(size_t budget) {
  static_assert(sizeof(Block) <= kHeaderBytes, "block header must fit 64 bytes");
  static_assert(sizeof(Region) <= kHeaderBytes, "region header must fit 64 bytes");
  st_.budget = budget;
}

Pool::~Pool() {
  while (regions_ != nullptr) release_region(regions_);
}

int Pool::bin_of(size_t block_size) {
  if (block_size <= kExactBinMax) return static_cast<int>(block_size / kAlignment) - 1;
  int log2 = 63 - __builtin_clzll(block_size);
  const int sub = static_cast<int>((block_size >> (log2 - 2)) & 3);
  return kNumExactBins + (log2 - 12) * kSubBins + sub;
}

void Pool::bin_insert(Block* b) {
  const int i = bin_of(b->size);
  b->bin = i;
  b->prev_free = nullptr;
  b->next_free = bins_[i];
  if (bins_[i] != nullptr) bins_[i]->prev_free = b;
  bins_[i] = b;
  bitmap_[i / 64] |= uint64_t{1} << (i % 64);
  st_.free_bytes += b->size - kHeaderBytes;
}

void Pool::bin_remove(Block* b) {
  const int i = b->bin;
  if (b->prev_free != nullptr) {
    b->prev_free->next_free = b->next_free;
  } else {
    bins_[i] = b->next_free;
  }
  if (b->next_free != nullptr) b->next_free->prev_free = b->prev_free;
  if (bins_[i] == nullptr) bitmap_[i / 64] &= ~(uint64_t{1} << (i % 64));
  b->next_free = b->prev_free = nullptr;
  st_.free_bytes -= b->size - kHeaderBytes;
}

Pool::Block* Pool::find_fit(size_t block_size) {
  int i = bin_of(block_size);
  // Exact bins hold one size: their head is the fit. A log bin holds a range: take its best.
  if (bins_[i] != nullptr) {
    if (i < kNumExactBins) return bins_[i];
    Block* best = nullptr;
    for (Block* b = bins_[i]; b != nullptr; b = b->next_free) {
      if (b->size >= block_size && (best == nullptr || b->size < best->size)) best = b;
    }
    if (best != nullptr) return best;
  }
  // Every block of a higher bin fits; the smallest of the first non-empty one is the best fit.
  for (int w = (i + 1) / 64; w < kBitmapWords; ++w) {
    uint64_t bits = bitmap_[w];
    if (w == (i + 1) / 64) bits &= ~uint64_t{0} << ((i + 1) % 64);
    if (bits == 0) continue;
    const int j = w * 64 + __builtin_ctzll(bits);
    Block* best = bins_[j];
    if (j >= kNumExactBins) {
      for (Block* b = best->next_free; b != nullptr; b = b->next_free) {
        if (b->size < best->size) best = b;
      }
    }
    return best;
  }
  return nullptr;
}

size_t Pool::wholly_free_bytes_locked() const {
  size_t bytes = 0;
  for (Region* r = regions_; r != nullptr; r = r->next) {
    if ((r->first->flags & kFlagFree) && r->first->size == r->bytes - 2 * kHeaderBytes) {
      bytes += r->bytes;
    }
  }
  return bytes;
}

Pool::Block* Pool::map_region(size_t request, size_t block_size, bool exact) {
  const size_t need = round_up(block_size + 2 * kHeaderBytes, kPage);
  size_t want = need;
  if (!exact && block_size <= kMinRegionBytes / 4) want = std::max(need, kMinRegionBytes);
  if (st_.budget != 0) {
    if (st_.reserved_bytes + want > st_.budget) want = need;
    if (st_.reserved_bytes + want > st_.budget) {
      const size_t freeable = wholly_free_bytes_locked();
      if (st_.reserved_bytes - freeable + want > st_.budget) {
        throw PoolBudgetError(
            "frugalnn pool budget exceeded: a request of " +
            std::to_string(request) + " bytes needs " + std::to_string(want) +
            " more bytes from the OS, but " + std::to_string(st_.reserved_bytes) + " of the " +
            std::to_string(st_.budget) + "-byte budget are reserved (" +
            std::to_string(st_.bytes_in_use) + " bytes in use, " +
            std::to_string(freeable) + " releasable)");
      }
      trim_locked();
    }
  }
  void* base = os_map(want);
  if (base == nullptr && want > need) {
    want = need;
    base = os_map(want);
  }
  if (base == nullptr) throw std::bad_alloc();

  Region* r = static_cast<Region*>(base);
  r->bytes = want;
  r->prev = nullptr;
  r->next = regions_;
  if (regions_ != nullptr) regions_->prev = r;
  regions_ = r;

  Block* b = at<Block>(base, kHeaderBytes);
  b->size = want - 2 * kHeaderBytes;
  b->prev = nullptr;
  b->region = r;
  b->next_free = b->prev_free = nullptr;
  b->requested = 0;
  b->flags = kFlagFree;
  b->bin = -1;
  b->magic = kFreeMagic ^ reinterpret_cast<uintptr_t>(b);
  r->first = b;

  Block* sentinel = at<Block>(base, want - kHeaderBytes);
  sentinel->size = 0;
  sentinel->prev = b;
  sentinel->region = r;
  sentinel->next_free = sentinel->prev_free = nullptr;
  sentinel->requested = 0;
  sentinel->flags = kFlagSentinel;
  sentinel->bin = -1;
  sentinel->magic = 0;
  poison(at<char>(b, kHeaderBytes), b->size - kHeaderBytes);

  st_.reserved_bytes += want;
  st_.regions += 1;
  st_.os_allocations += 1;
  g_live_regions.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(want, std::memory_order_relaxed);
  return b;
}

void Pool::split(Block* b, size_t block_size) {
  if (b->size - block_size < kMinBlock) return;
  Block* rest = at<Block>(b, block_size);
  unpoison(rest, kHeaderBytes);
  rest->size = b->size - block_size;
  rest->prev = b;
  rest->region = b->region;
  rest->requested = 0;
  rest->flags = kFlagFree;
  rest->magic = kFreeMagic ^ reinterpret_cast<uintptr_t>(rest);
  at<Block>(rest, rest->size)->prev = rest;
  b->size = block_size;
  bin_insert(rest);
}

void* Pool::allocate(size_t nbytes) {
  if (nbytes > kMaxRequestBytes) {
    throw std::length_error("frugalnn pool: a request of " + std::to_string(nbytes) +
                            " bytes is larger than the maximum of " +
                            std::to_string(kMaxRequestBytes));
  }
  const size_t block_size = kHeaderBytes + round_up(std::max<size_t>(nbytes, 1), kAlignment);
  std::lock_guard<std::mutex> lock(mu_);
  Block* b = find_fit(block_size);
  if (b != nullptr) {
    bin_remove(b);
    st_.cache_hits += 1;
  } else {
    b = map_region(nbytes, block_size, /*exact=*/false);  // throws before any state change
    st_.cache_misses += 1;
  }
  split(b, block_size);
  b->flags = 0;
  b->requested = nbytes;
  b->magic = kUsedMagic ^ reinterpret_cast<uintptr_t>(b);
  void* data = at<char>(b, kHeaderBytes);
  unpoison(data, b->size - kHeaderBytes);

  st_.allocations += 1;
  st_.blocks += 1;
  st_.bytes_in_use += b->size - kHeaderBytes;
  st_.requested_bytes += nbytes;
  st_.peak_bytes_in_use = std::max(st_.peak_bytes_in_use, st_.bytes_in_use);
  return data;
}

Pool::Block* Pool::checked_block(const void* p) const {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  if (p == nullptr || addr % kAlignment != 0) {
    throw std::invalid_argument("frugalnn pool: pointer is not a block of this pool");
  }
  // Only dereference a header that lies inside one of our regions.
  for (Region* r = regions_; r != nullptr; r = r->next) {
    const auto lo = reinterpret_cast<uintptr_t>(r) + 2 * kHeaderBytes;
    const auto hi = reinterpret_cast<uintptr_t>(r) + r->bytes - kHeaderBytes;
    if (addr < lo || addr >= hi) continue;
    Block* b = reinterpret_cast<Block*>(addr - kHeaderBytes);
    if (b->magic != (kUsedMagic ^ reinterpret_cast<uintptr_t>(b))) break;
    return b;
  }
  throw std::invalid_argument(
      "frugalnn pool: pointer is not a live block of this pool (freed twice?)");
}

size_t Pool::block_bytes(const void* p) const {
  std::lock_guard<std::mutex> lock(mu_);
  return checked_block(p)->size - kHeaderBytes;
}

void Pool::deallocate(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  Block* b = checked_block(p);
  st_.frees += 1;
  st_.blocks -= 1;
  st_.bytes_in_use -= b->size - kHeaderBytes;
  st_.requested_bytes -= b->requested;
  b->flags = kFlagFree;
  b->requested = 0;
  b->magic = kFreeMagic ^ reinterpret_cast<uintptr_t>(b);
  poison(p, b->size - kHeaderBytes);

  Block* next = at<Block>(b, b->size);
  if (next->flags & kFlagFree) {
    bin_remove(next);
    b->size += next->size;
    next->magic = 0;
    poison(next, kHeaderBytes);
    at<Block>(b, b->size)->prev = b;
  }
  Block* prev = b->prev;
  if (prev != nullptr && (prev->flags & kFlagFree)) {
    bin_remove(prev);
    prev->size += b->size;
    b->magic = 0;
    poison(b, kHeaderBytes);
    b = prev;
    at<Block>(b, b->size)->prev = b;
  }
  bin_insert(b);
}

void Pool::reserve(size_t nbytes) {
  if (nbytes == 0) return;
  if (nbytes > kMaxRequestBytes) {
    throw std::length_error("frugalnn pool: cannot reserve " + std::to_string(nbytes) + " bytes");
  }
  const size_t block_size = kHeaderBytes + round_up(nbytes, kAlignment);
  std::lock_guard<std::mutex> lock(mu_);
  bin_insert(map_region(nbytes, block_size, /*exact=*/true));
}

void Pool::release_region(Region* r) {
  if (r->prev != nullptr) {
    r->prev->next = r->next;
  } else {
    regions_ = r->next;
  }
  if (r->next != nullptr) r->next->prev = r->prev;
  st_.reserved_bytes -= r->bytes;
  st_.regions -= 1;
  st_.os_frees += 1;
  g_live_regions.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(r->bytes, std::memory_order_relaxed);
  const size_t bytes = r->bytes;
  unpoison(r, bytes);
  os_unmap(r, bytes);
}

size_t Pool::trim_locked() {
  size_t released = 0;
  Region* r = regions_;
  while (r != nullptr) {
    Region* next = r->next;
    Block* b = r->first;
    if ((b->flags & kFlagFree) && b->size == r->bytes - 2 * kHeaderBytes) {
      bin_remove(b);
      released += r->bytes;
      release_region(r);
    }
    r = next;
  }
  return released;
}

size_t Pool::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  return trim_locked();
}

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolStats s = st_;
  s.largest_free_block = 0;
  for (int w = kBitmapWords - 1; w >= 0 && s.largest_free_block == 0; --w) {
    if (bitmap_[w] == 0) continue;
    const int j = w * 64 + 63 - __builtin_clzll(bitmap_[w]);
    for (Block* b = bins_[j]; b != nullptr; b = b->next_free) {
      s.largest_free_block = std::max(s.largest_free_block, b->size - kHeaderBytes);
    }
  }
  return s;
}

void Pool::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  st_.peak_bytes_in_use = st_.bytes_in_use;
}

size_t Pool::budget() const {
  std::lock_guard<std::mutex> lock(mu_);
  return st_.budget;
}

void Pool::set_budget(size_t budget) {
  std::lock_guard<std::mutex> lock(mu_);
  st_.budget = budget;
}

size_t Pool::live_os_regions() { return g_live_regions.load(std::memory_order_relaxed); }
size_t Pool::live_os_bytes() { return g_live_bytes.load(std::memory_order_relaxed); }

}  // namespace fnn
