// Static memory planner: one arena, an offset per tensor, no two tensors alive at the same
// step sharing a byte.
//
// The problem (offline dynamic storage allocation) is NP-complete, so the planner runs a few
// greedy orders — by size (TFLite's and XNNPACK's choice), by breadth (tensors of the busiest
// steps first), by lifetime area — each with best-fit and first-fit gap choice, and keeps the
// smallest arena. It stops early once a plan reaches the lower bound, which no plan can beat:
// the largest sum of tensor bytes alive at one step.
//
// Placement only ever looks at tensors whose lifetimes overlap the one being placed. The
// overlap lists are built once by a sweep, so a run costs O(n log n + E log E) for E
// overlapping pairs: chains and CNN-like graphs with skip connections have E ~ n.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fnn {

struct MemoryPlan {
  std::vector<uint64_t> offsets;  // per tensor, multiples of alignment
  std::vector<uint64_t> sizes;    // per tensor, rounded up to alignment
  uint64_t arena_bytes = 0;       // max over tensors of offset + size
  uint64_t lower_bound = 0;       // max over steps of aligned bytes alive
  uint64_t naive_bytes = 0;       // sum of aligned sizes: one buffer per tensor
  uint64_t alignment = 0;
  std::string strategy;           // "<order>/<fit>" of the kept plan
};

// Tensor i occupies sizes[i] bytes from step first[i] through step last[i], inclusive.
// Throws std::invalid_argument on mismatched lengths, last < first, negative steps, an
// alignment that is not a power of two, or sizes whose sum overflows 2^62.
MemoryPlan plan_memory(const std::vector<uint64_t>& sizes, const std::vector<int64_t>& first,
                       const std::vector<int64_t>& last, uint64_t alignment = 64);

}  // namespace fnn
