#include "memory/planner.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace fnn {
namespace {

constexpr uint64_t kMaxTotalBytes = uint64_t{1} << 62;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;

struct Instance {
  std::vector<uint64_t> size;    // aligned
  std::vector<int64_t> first;
  std::vector<int64_t> last;
  std::vector<uint32_t> live;    // tensors with size > 0
  std::vector<uint64_t> adj_ptr; // CSR of lifetime overlaps among `live`
  std::vector<uint32_t> adj;
};

void build_overlaps(Instance& in) {
  std::vector<uint32_t> by_first = in.live;
  std::sort(by_first.begin(), by_first.end(), [&](uint32_t a, uint32_t b) {
    return in.first[a] != in.first[b] ? in.first[a] < in.first[b] : a < b;
  });
  std::vector<std::pair<uint32_t, uint32_t>> edges;
  std::vector<uint32_t> active;
  for (uint32_t i : by_first) {
    // Whatever ended before i starts can never overlap a later tensor either.
    active.erase(std::remove_if(active.begin(), active.end(),
                                [&](uint32_t a) { return in.last[a] < in.first[i]; }),
                 active.end());
    for (uint32_t a : active) edges.emplace_back(a, i);
    active.push_back(i);
  }
  const size_t n = in.size.size();
  in.adj_ptr.assign(n + 1, 0);
  for (const auto& e : edges) {
    in.adj_ptr[e.first + 1] += 1;
    in.adj_ptr[e.second + 1] += 1;
  }
  std::partial_sum(in.adj_ptr.begin(), in.adj_ptr.end(), in.adj_ptr.begin());
  in.adj.resize(in.adj_ptr[n]);
  std::vector<uint64_t> fill(in.adj_ptr.begin(), in.adj_ptr.end() - 1);
  for (const auto& e : edges) {
    in.adj[fill[e.first]++] = e.second;
    in.adj[fill[e.second]++] = e.first;
  }
}

// Live bytes on each segment [times[k], times[k+1]) between consecutive event times.
struct Timeline {
  std::vector<int64_t> times;
  std::vector<uint64_t> live;
};

Timeline build_timeline(const Instance& in) {
  std::vector<std::pair<int64_t, int64_t>> events;  // (time, +/- bytes as signed delta)
  events.reserve(2 * in.live.size());
  for (uint32_t i : in.live) {
    events.emplace_back(in.first[i], static_cast<int64_t>(in.size[i]));
    events.emplace_back(in.last[i] + 1, -static_cast<int64_t>(in.size[i]));
  }
  std::sort(events.begin(), events.end());
  Timeline t;
  int64_t cur = 0;
  for (size_t e = 0; e < events.size();) {
    const int64_t time = events[e].first;
    for (; e < events.size() && events[e].first == time; ++e) cur += events[e].second;
    t.times.push_back(time);
    t.live.push_back(static_cast<uint64_t>(cur));
  }
  return t;
}

// Max over each tensor's lifetime of the live bytes: the breadth order's key.
std::vector<uint64_t> max_breadth(const Instance& in, const Timeline& t) {
  const size_t m = t.live.size();
  std::vector<std::vector<uint64_t>> table(1, t.live);  // sparse table for range max
  for (size_t w = 1; 2 * w <= m; w *= 2) {
    const auto& prev = table.back();
    std::vector<uint64_t> next(m - 2 * w + 1);
    for (size_t k = 0; k < next.size(); ++k) next[k] = std::max(prev[k], prev[k + w]);
    table.push_back(std::move(next));
  }
  std::vector<uint64_t> key(in.size.size(), 0);
  for (uint32_t i : in.live) {
    const size_t lo = std::lower_bound(t.times.begin(), t.times.end(), in.first[i]) - t.times.begin();
    const size_t hi = std::upper_bound(t.times.begin(), t.times.end(), in.last[i]) - t.times.begin();
    const size_t len = hi - lo;  // >= 1: first[i] is an event time
    const int level = 63 - __builtin_clzll(len);
    const auto& row = table[level];
    key[i] = std::max(row[lo], row[hi - (size_t{1} << level)]);
  }
  return key;
}

struct Placer {
  const Instance& in;
  std::vector<uint64_t> offset;
  std::vector<uint8_t> placed;
  std::vector<std::pair<uint64_t, uint64_t>> busy;  // (offset, end) of placed neighbours

  explicit Placer(const Instance& instance)
      : in(instance), offset(instance.size.size(), 0), placed(instance.size.size(), 0) {}

  // Places tensors in `order`; gives up (returning >= give_up) once the arena reaches give_up.
  uint64_t run(const std::vector<uint32_t>& order, bool best_fit, uint64_t give_up) {
    std::fill(placed.begin(), placed.end(), 0);
    std::fill(offset.begin(), offset.end(), 0);
    uint64_t arena = 0;
    for (uint32_t i : order) {
      busy.clear();
      for (uint64_t k = in.adj_ptr[i]; k < in.adj_ptr[i + 1]; ++k) {
        const uint32_t j = in.adj[k];
        if (placed[j]) busy.emplace_back(offset[j], offset[j] + in.size[j]);
      }
      std::sort(busy.begin(), busy.end());
      const uint64_t need = in.size[i];
      uint64_t cur = 0, best = std::numeric_limits<uint64_t>::max();
      uint64_t best_gap = std::numeric_limits<uint64_t>::max();
      for (const auto& b : busy) {
        if (b.first > cur && b.first - cur >= need && b.first - cur < best_gap) {
          best = cur;
          best_gap = b.first - cur;
          if (!best_fit || best_gap == need) break;
        }
        cur = std::max(cur, b.second);
      }
      if (best == std::numeric_limits<uint64_t>::max()) best = cur;
      offset[i] = best;
      placed[i] = 1;
      arena = std::max(arena, best + need);
      if (arena >= give_up) return arena;
    }
    return arena;
  }
};

// Time-ordered placement against a target height (the lower bound), putting each tensor at
// the bottom or the top of a free gap, whichever leaves the widest free band for the tensors
// that will still be alive when it dies. Greedy orders only ever place at gap bottoms, which
// misses the alternating layouts chains need (sizes 10, 9, 9, 10: greedy 28, optimum 19).
// Cost O(d^2) per tensor for d overlapping neighbours, so it only runs on sparse overlaps.
struct SweepPlacer {
  const Instance& in;
  std::vector<uint64_t> offset;
  std::vector<uint8_t> placed;
  std::vector<std::pair<uint64_t, uint64_t>> busy, persist, scratch;

  explicit SweepPlacer(const Instance& instance)
      : in(instance), offset(instance.size.size(), 0), placed(instance.size.size(), 0) {}

  // The widest free band in [0, target) once [lo, hi) joins the persisting intervals.
  uint64_t widest_free(uint64_t lo, uint64_t hi, uint64_t target) {
    scratch = persist;
    scratch.emplace_back(lo, hi);
    std::sort(scratch.begin(), scratch.end());
    uint64_t cur = 0, widest = 0;
    for (const auto& b : scratch) {
      if (b.first > cur) widest = std::max(widest, b.first - cur);
      cur = std::max(cur, b.second);
    }
    if (target > cur) widest = std::max(widest, target - cur);
    return widest;
  }

  uint64_t run(const std::vector<uint32_t>& order, uint64_t target, uint64_t give_up) {
    std::fill(placed.begin(), placed.end(), 0);
    std::fill(offset.begin(), offset.end(), 0);
    uint64_t arena = 0;
    for (uint32_t i : order) {
      busy.clear();
      persist.clear();
      for (uint64_t k = in.adj_ptr[i]; k < in.adj_ptr[i + 1]; ++k) {
        const uint32_t j = in.adj[k];
        if (!placed[j]) continue;
        busy.emplace_back(offset[j], offset[j] + in.size[j]);
        if (in.last[j] >= in.last[i]) persist.push_back(busy.back());
      }
      std::sort(busy.begin(), busy.end());
      const uint64_t need = in.size[i];
      uint64_t best = std::numeric_limits<uint64_t>::max(), best_score = 0, cur = 0;
      auto consider = [&](uint64_t g0, uint64_t g1) {  // a free gap [g0, g1) below target
        if (g1 - g0 < need) return;
        for (uint64_t cand : {g0, g1 - need}) {
          const uint64_t score = widest_free(cand, cand + need, target);
          if (best == std::numeric_limits<uint64_t>::max() || score > best_score ||
              (score == best_score && cand < best)) {
            best = cand;
            best_score = score;
          }
        }
      };
      for (const auto& b : busy) {
        if (b.first > cur) consider(cur, std::min(b.first, target));
        cur = std::max(cur, b.second);
        if (cur >= target) break;
      }
      if (cur < target) consider(cur, target);
      if (best == std::numeric_limits<uint64_t>::max()) {
        best = 0;  // nothing fits under the target: go above everything it overlaps
        for (const auto& b : busy) best = std::max(best, b.second);
      }
      offset[i] = best;
      placed[i] = 1;
      arena = std::max(arena, best + need);
      if (arena >= give_up) return arena;
    }
    return arena;
  }
};

void validate(const std::vector<uint64_t>& sizes, const std::vector<int64_t>& first,
              const std::vector<int64_t>& last, uint64_t alignment) {
  if (first.size() != sizes.size() || last.size() != sizes.size()) {
    throw std::invalid_argument("plan_memory: sizes, first and last must have the same length (got " +
                                std::to_string(sizes.size()) + ", " + std::to_string(first.size()) +
                                ", " + std::to_string(last.size()) + ")");
  }
  if (sizes.size() >= std::numeric_limits<uint32_t>::max()) {
    throw std::invalid_argument("plan_memory: too many tensors");
  }
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) {
    throw std::invalid_argument("plan_memory: alignment must be a power of two up to 2^30, got " +
                                std::to_string(alignment));
  }
  uint64_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (first[i] < 0) {
      throw std::invalid_argument("plan_memory: first[" + std::to_string(i) +
                                  "] is negative (" + std::to_string(first[i]) + ")");
    }
    if (last[i] < first[i]) {
      throw std::invalid_argument("plan_memory: last[" + std::to_string(i) + "] = " +
                                  std::to_string(last[i]) + " is before first[" +
                                  std::to_string(i) + "] = " + std::to_string(first[i]));
    }
    if (last[i] == std::numeric_limits<int64_t>::max()) {
      throw std::invalid_argument("plan_memory: last[" + std::to_string(i) + "] is too large");
    }
    if (sizes[i] > kMaxTotalBytes || total + sizes[i] + alignment > kMaxTotalBytes) {
      throw std::invalid_argument("plan_memory: the tensor sizes add up to more than 2^62 bytes "
                                  "(at tensor " + std::to_string(i) + ")");
    }
    total += (sizes[i] + alignment - 1) / alignment * alignment;
  }
}

}  // namespace

MemoryPlan plan_memory(const std::vector<uint64_t>& sizes, const std::vector<int64_t>& first,
                       const std::vector<int64_t>& last, uint64_t alignment) {
  validate(sizes, first, last, alignment);
  const size_t n = sizes.size();
  Instance in;
  in.first = first;
  in.last = last;
  in.size.resize(n);
  MemoryPlan plan;
  plan.alignment = alignment;
  for (size_t i = 0; i < n; ++i) {
    in.size[i] = (sizes[i] + alignment - 1) / alignment * alignment;
    plan.naive_bytes += in.size[i];
    if (in.size[i] > 0) in.live.push_back(static_cast<uint32_t>(i));
  }
  const Timeline timeline = build_timeline(in);
  for (uint64_t v : timeline.live) plan.lower_bound = std::max(plan.lower_bound, v);
  build_overlaps(in);

  const std::vector<uint64_t> breadth = max_breadth(in, timeline);
  auto lifetime = [&](uint32_t i) { return static_cast<double>(in.last[i] - in.first[i]) + 1.0; };
  auto tie = [&](uint32_t a, uint32_t b) {
    return in.first[a] != in.first[b] ? in.first[a] < in.first[b] : a < b;
  };
  struct Order {
    const char* name;
    std::vector<uint32_t> ids;
  };
  std::vector<Order> orders(3, Order{"", in.live});
  orders[0].name = "size";
  std::sort(orders[0].ids.begin(), orders[0].ids.end(), [&](uint32_t a, uint32_t b) {
    if (in.size[a] != in.size[b]) return in.size[a] > in.size[b];
    if (lifetime(a) != lifetime(b)) return lifetime(a) > lifetime(b);
    return tie(a, b);
  });
  orders[1].name = "breadth";
  std::sort(orders[1].ids.begin(), orders[1].ids.end(), [&](uint32_t a, uint32_t b) {
    if (breadth[a] != breadth[b]) return breadth[a] > breadth[b];
    if (in.size[a] != in.size[b]) return in.size[a] > in.size[b];
    return tie(a, b);
  });
  orders[2].name = "area";
  std::sort(orders[2].ids.begin(), orders[2].ids.end(), [&](uint32_t a, uint32_t b) {
    const double aa = static_cast<double>(in.size[a]) * lifetime(a);
    const double ab = static_cast<double>(in.size[b]) * lifetime(b);
    if (aa != ab) return aa > ab;
    if (in.size[a] != in.size[b]) return in.size[a] > in.size[b];
    return tie(a, b);
  });

  Placer placer(in);
  plan.arena_bytes = std::numeric_limits<uint64_t>::max();
  plan.offsets.assign(n, 0);
  for (const Order& order : orders) {
    for (bool best_fit : {true, false}) {
      const uint64_t arena = placer.run(order.ids, best_fit, plan.arena_bytes);
      if (arena < plan.arena_bytes) {
        plan.arena_bytes = arena;
        plan.offsets = placer.offset;
        plan.strategy = std::string(order.name) + (best_fit ? "/best_fit" : "/first_fit");
      }
      if (plan.arena_bytes <= plan.lower_bound) break;
    }
    if (plan.arena_bytes <= plan.lower_bound) break;
  }
  // Sparse overlaps (chains, CNNs with skips and scratch) can afford the two-sided sweep.
  if (plan.arena_bytes > plan.lower_bound && in.adj.size() <= 64 * in.live.size()) {
    std::vector<uint32_t> by_time = in.live;
    std::sort(by_time.begin(), by_time.end(), [&](uint32_t a, uint32_t b) {
      if (in.first[a] != in.first[b]) return in.first[a] < in.first[b];
      if (in.size[a] != in.size[b]) return in.size[a] > in.size[b];
      return a < b;
    });
    SweepPlacer sweep(in);
    const uint64_t arena = sweep.run(by_time, plan.lower_bound, plan.arena_bytes);
    if (arena < plan.arena_bytes) {
      plan.arena_bytes = arena;
      plan.offsets = sweep.offset;
      plan.strategy = "time/two_sided";
    }
  }
  plan.sizes = std::move(in.size);
  return plan;
}

}  // namespace fnn
