// How steps split their work over the session's threads.
#pragma once

#include <algorithm>
#include <cstddef>

#include "runtime/thread_pool.h"

namespace fnn {

// Splits [0, total) into at most `threads` chunks of at least `min_chunk` and runs
// fn(begin, end) on the pool; a single chunk runs on the caller, leaving the pool free for
// the kernels it calls.
template <typename Fn>
void parallel_ranges(size_t total, size_t min_chunk, size_t threads, const Fn& fn) {
  if (total == 0) return;
  const size_t chunks = std::max<size_t>(1, std::min(threads, total / std::max<size_t>(1, min_chunk)));
  if (chunks == 1) {
    fn(size_t{0}, total);
    return;
  }
  global_thread_pool()->parallel_for(chunks, [&](size_t c) {
    fn(total * c / chunks, total * (c + 1) / chunks);
  });
}

// fn(t) for t in [0, tasks): on the caller for one task, else on the pool.
template <typename Fn>
void run_tasks(size_t tasks, const Fn& fn) {
  if (tasks <= 1) {
    fn(size_t{0});
  } else {
    global_thread_pool()->parallel_for(tasks, [&](size_t t) { fn(t); });
  }
}

// Reductions over a batch that must not depend on the thread count (training's weight
// gradients): images [0, n) are cut into `parts` fixed ranges — a function of the problem,
// never of the threads — and fn(task, part, b0, b1) runs once per part, on at most `threads`
// tasks (task < min(threads, parts): an index for per-task scratch).
// Each part reduces its images in order into its own buffer; the caller then combines the
// parts in part order. Work per image (an input gradient) may be done there too: each image
// belongs to exactly one part.
template <typename Fn>
void for_each_batch_part(size_t n, size_t parts, size_t threads, const Fn& fn) {
  if (n == 0 || parts == 0) return;
  const size_t tasks = std::min(threads, parts);
  run_tasks(tasks, [&](size_t t) {
    for (size_t part = t; part < parts; part += tasks) fn(t, part, n * part / parts, n * (part + 1) / parts);
  });
}

}  // namespace fnn
