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

}  // namespace fnn
