// Native stress test of the pool: threads that allocate, fill, verify and free concurrently
// without the GIL, so the Python tests (and the sanitizer build) exercise real contention.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memory/pool.h"

namespace fnn {

struct PoolStressResult {
  uint64_t allocations = 0;
  uint64_t corrupted = 0;  // blocks whose bytes changed while they were live
  uint64_t misaligned = 0;
};

// Each thread keeps up to `max_live` blocks of 0..max_bytes bytes (mostly small, some large),
// fills every block with a thread-and-block tag and checks the tag before freeing it.
PoolStressResult pool_stress(Pool& pool, int threads, int iterations, size_t max_bytes,
                             int max_live, uint64_t seed);

}  // namespace fnn
