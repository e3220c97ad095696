// The benchmark grid of DESIGN.md section 6: the b = 128 sweep, the fp16 ridge row and the
// small-batch rows of the target table, each with the timing protocol it is measured under.
#pragma once

#include <string>
#include <vector>

#include "problem.h"

namespace bench {

enum class TimingMode {
  // One decode call per timed launch (CUDA events around it): the big-batch protocol.
  kPlain,
  // A CUDA graph of kGraphCalls back-to-back calls, each on its own copy of the cache so that the
  // L2 cannot hold it, timed per replay and divided by kGraphCalls: the small-batch protocol.
  kGraph,
};

constexpr int kGraphCalls = 24;

struct GridConfig {
  ProblemSpec spec;
  TimingMode timing = TimingMode::kPlain;
};

const char* timing_mode_name(TimingMode mode);

// Every configuration, in a fixed order (the row numbers --rows and --list use). Speculative rows
// (s_q > 1) are causal, as in decoding; varlen lengths come from a fixed seed per row.
std::vector<GridConfig> design_grid();

// Prints the grid, one numbered line per configuration.
void print_grid(const std::vector<GridConfig>& grid);

}  // namespace bench
