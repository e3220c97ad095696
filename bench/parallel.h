// Splitting host loops over threads: generating and checking gigabyte caches one-threaded would
// dominate a grid run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace bench {

inline int host_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls fn(begin, end) on contiguous chunks covering [0, n), on up to host_threads() threads, with
// no chunk smaller than min_chunk (small loops stay on the calling thread). fn must be safe to run
// concurrently on disjoint ranges.
template <typename Fn>
void parallel_for(int64_t n, int64_t min_chunk, Fn fn) {
  if (n <= 0) return;
  const int64_t max_threads = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int threads = static_cast<int>(std::min<int64_t>(host_threads(), max_threads));
  if (threads == 1) {
    fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = n * t / threads;
    const int64_t end = n * (t + 1) / threads;
    pool.emplace_back([=] { fn(begin, end); });
  }
  for (std::thread& th : pool) th.join();
}

}  // namespace bench
