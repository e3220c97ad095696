// flashmla-bench: times MLA decoding through the public API and checks every result it times.
#include <cstdio>
#include <string>

#include "args.h"
#include "grid.h"
#include "modes.h"

int main(int argc, char** argv) {
  bench::Options opts;
  std::string error;
  if (!bench::parse_args(argc, argv, &opts, &error)) {
    std::fprintf(stderr, "flashmla-bench: %s\n%s", error.c_str(),
                 bench::usage_text(argv[0]).c_str());
    return 2;
  }
  switch (opts.mode) {
    case bench::Mode::kHelp:
      std::printf("%s", bench::usage_text(argv[0]).c_str());
      return 0;
    case bench::Mode::kList:
      bench::print_grid(bench::design_grid());
      return 0;
    case bench::Mode::kGrid:
      return bench::run_grid(opts);
    case bench::Mode::kPlan:
      return bench::run_plan_report(opts);
    case bench::Mode::kSingle:
      break;
  }
  return bench::run_single(opts);
}
