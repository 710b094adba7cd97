#include "testing/pool_stress.h"

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace fnn {

PoolStressResult pool_stress(Pool& pool, int threads, int iterations, size_t max_bytes,
                             int max_live, uint64_t seed) {
  std::atomic<uint64_t> allocations{0}, corrupted{0}, misaligned{0};
  auto worker = [&](int t) {
    std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(t));
    struct Live {
      uint8_t* p;
      size_t n;
      uint8_t tag;
    };
    std::vector<Live> live;
    auto check_and_free = [&](const Live& b) {
      for (size_t i = 0; i < b.n; ++i) {
        if (b.p[i] != b.tag) {
          corrupted.fetch_add(1);
          break;
        }
      }
      pool.deallocate(b.p);
    };
    for (int i = 0; i < iterations; ++i) {
      const bool grow = live.empty() || (static_cast<int>(live.size()) < max_live && rng() % 2);
      if (grow) {
        // Three in four requests are small (size classes), the rest span the whole range.
        const size_t cap = rng() % 4 ? std::min<size_t>(max_bytes, 4096) : max_bytes;
        const size_t n = cap == 0 ? 0 : rng() % (cap + 1);
        auto* p = static_cast<uint8_t*>(pool.allocate(n));
        if (reinterpret_cast<uintptr_t>(p) % Pool::kAlignment != 0) misaligned.fetch_add(1);
        const auto tag = static_cast<uint8_t>(t * 37 + i);
        std::memset(p, tag, n);
        live.push_back({p, n, tag});
        allocations.fetch_add(1);
      } else {
        const size_t k = rng() % live.size();
        check_and_free(live[k]);
        live[k] = live.back();
        live.pop_back();
      }
    }
    for (const Live& b : live) check_and_free(b);
  };
  std::vector<std::thread> pool_threads;
  for (int t = 0; t < threads; ++t) pool_threads.emplace_back(worker, t);
  for (auto& th : pool_threads) th.join();
  return {allocations.load(), corrupted.load(), misaligned.load()};
}

}  // namespace fnn
