// Command-line options of flashmla-bench and their parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "problem.h"

namespace bench {

enum class Mode { kSingle, kGrid, kList, kPlan, kHelp };
enum class Backend { kAuto, kCpu, kCuda };

struct Options {
  Mode mode = Mode::kSingle;
  ProblemSpec spec;  // single-shape mode
  Backend backend = Backend::kAuto;
  int iters = 0;          // timed runs; 0 means the mode's default
  bool graph = false;     // single shape on CUDA: time as graph replays of 24 calls
  std::string out_path;   // grid: CSV path; empty means bench/results/<gpu>.csv
  std::string gpu_name;   // grid: the gpu column; empty means derived from the device name
  std::string commit;     // grid: the commit column; empty means $FLASHMLA_COMMIT or unknown
  std::vector<int> rows;  // grid and plan: only these rows (numbers from --list); empty means all
  int sms = 132;          // plan: SM count the parts are planned for (an H100 SXM has 132)
};

// Fills *opts from argv. On a bad argument returns false with *error naming it.
bool parse_args(int argc, char** argv, Options* opts, std::string* error);

// The usage text.
std::string usage_text(const char* program);

const char* backend_name(Backend backend);

}  // namespace bench
