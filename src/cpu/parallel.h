// A minimal fork-join loop for the CPU backend: no pool survives a call, so the library keeps no
// global mutable state and every call stays reentrant.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

namespace flashmla {
namespace cpu {

// Runs body(task, worker) for every task in [0, num_tasks) on up to num_workers threads (the
// calling thread is worker 0). Tasks are handed out dynamically because their costs differ (a part
// with a long sequence, a sequence with many splits). `body` must not throw.
template <typename Body>
void parallel_for(int64_t num_tasks, int num_workers, const Body& body) {
  if (num_tasks <= 0) return;
  num_workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_workers, num_tasks)));
  std::atomic<int64_t> next{0};
  auto work = [&](int worker) {
    for (int64_t task = next.fetch_add(1); task < num_tasks; task = next.fetch_add(1)) {
      body(task, worker);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(num_workers - 1));
  for (int w = 1; w < num_workers; ++w) {
    try {
      threads.emplace_back(work, w);
    } catch (const std::system_error&) {
      // Out of threads: the ones already started and this one still finish every task.
      break;
    }
  }
  work(0);
  for (std::thread& t : threads) t.join();
}

}  // namespace cpu
}  // namespace flashmla
