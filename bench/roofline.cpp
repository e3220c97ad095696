#include "roofline.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "clock.h"
#include "parallel.h"

namespace bench {

namespace {

constexpr int64_t kCopyBytes = int64_t{256} << 20;
constexpr int kCeilingRuns = 5;
// Independent accumulators per thread: enough to hide the add latency of a vectorised loop.
constexpr int kFmaLanes = 64;
constexpr int64_t kFmaSteps = int64_t{1} << 21;

// Volatile sink so that the compiler cannot drop the FMA loop.
volatile float g_fma_sink = 0.0f;

void fma_loop(int64_t steps) {
  float acc[kFmaLanes];
  for (int l = 0; l < kFmaLanes; ++l) acc[l] = 1.0f + 1e-3f * static_cast<float>(l);
  const float a = 0.999999f;
  const float b = 1e-7f;
  for (int64_t s = 0; s < steps; ++s) {
    for (int l = 0; l < kFmaLanes; ++l) acc[l] = acc[l] * a + b;
  }
  float sum = 0.0f;
  for (int l = 0; l < kFmaLanes; ++l) sum += acc[l];
  g_fma_sink = g_fma_sink + sum;
}

}  // namespace

WorkCounts count_work(const HostProblem& p) {
  const ProblemSpec& s = p.spec;
  const double tokens = static_cast<double>(p.total_kv_tokens());
  const double elem = flashmla::dtype_size(s.dtype);
  const double d = flashmla::kHeadDimK;
  const double dv = flashmla::kHeadDimV;
  WorkCounts w;
  w.bytes = (tokens * s.h_kv * d + static_cast<double>(s.b) * s.s_q * s.h_q * (d + dv)) * elem;
  w.flops = 2.0 * s.s_q * s.h_q * tokens * (d + dv);
  return w;
}

double roofline_pct(const WorkCounts& work, const Ceilings& ceilings, double time_s) {
  if (ceilings.copy_bytes_per_s <= 0.0 || ceilings.flops_per_s <= 0.0 || time_s <= 0.0)
    return std::numeric_limits<double>::quiet_NaN();
  const double roof_s =
      std::max(work.bytes / ceilings.copy_bytes_per_s, work.flops / ceilings.flops_per_s);
  return 100.0 * roof_s / time_s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

Ceilings measure_cpu_ceilings() {
  Ceilings c;
  std::vector<char> src(static_cast<size_t>(kCopyBytes), 1);
  std::vector<char> dst(static_cast<size_t>(kCopyBytes), 0);
  std::vector<double> rates;
  for (int run = 0; run < kCeilingRuns + 1; ++run) {
    const auto t0 = Clock::now();
    parallel_for(kCopyBytes, int64_t{16} << 20, [&](int64_t begin, int64_t end) {
      std::memcpy(dst.data() + begin, src.data() + begin, static_cast<size_t>(end - begin));
    });
    const double dt = seconds_since(t0);
    if (run > 0) rates.push_back(2.0 * kCopyBytes / dt);  // first run faults the pages in
  }
  c.copy_bytes_per_s = median(rates);

  rates.clear();
  const int threads = host_threads();
  for (int run = 0; run < kCeilingRuns; ++run) {
    const auto t0 = Clock::now();
    parallel_for(threads, 1, [](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) fma_loop(kFmaSteps);
    });
    const double dt = seconds_since(t0);
    rates.push_back(2.0 * kFmaLanes * static_cast<double>(kFmaSteps) * threads / dt);
  }
  c.flops_per_s = median(rates);
  return c;
}

}  // namespace bench
