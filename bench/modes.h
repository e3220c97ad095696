// The program's modes; each returns the process exit code (0 ok, 1 failure or check failed,
// 2 bad arguments).
#pragma once

#include "args.h"

namespace bench {

// One shape on one backend, checked, with time, rates and roofline %.
int run_single(const Options& opts);

// The DESIGN.md grid on the GPU, written as CSV.
int run_grid(const Options& opts);

// The split plan of each grid row, made on the host (plan_report.cpp).
int run_plan_report(const Options& opts);

}  // namespace bench
