// The host clock of the benchmark: CPU-backend calls, input generation and whole runs are timed
// with a steady clock (GPU work is timed with CUDA events instead, see gpu_util.h).
#pragma once

#include <chrono>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace bench
