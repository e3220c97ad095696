// What a decode call must move and compute (DESIGN.md section 6), the two machine ceilings, and
// the roofline percentage that relates them to a measured time.
#pragma once

#include <cstdint>
#include <vector>

#include "problem.h"

namespace bench {

struct WorkCounts {
  double bytes = 0.0;  // (total_kv_tokens * h_kv * d + b * s_q * h_q * (d + dv)) * elem_size
  double flops = 0.0;  // 2 * s_q * h_q * total_kv_tokens * (d + dv)
};

WorkCounts count_work(const HostProblem& p);

struct Ceilings {
  double copy_bytes_per_s = 0.0;  // bytes read plus written by a large copy
  double flops_per_s = 0.0;       // a large GEMM on the GPU; an fp32 FMA loop on the CPU
};

// roofline time / measured time, in percent: roofline time = max(bytes / copy rate, flops / rate).
// NaN when a ceiling is unknown.
double roofline_pct(const WorkCounts& work, const Ceilings& ceilings, double time_s);

// The CPU ceilings, measured on all hardware threads: a multithreaded memcpy of 256 MiB per run,
// and an fp32 multiply-add loop the compiler can vectorise, built with the same flags as the CPU
// backend. They say what plain C++ reaches on this machine, not the hardware's datasheet peak.
Ceilings measure_cpu_ceilings();

// Median of a list of times (0 when empty).
double median(std::vector<double> v);

}  // namespace bench
