#include "grid.h"

#include <cstdio>

namespace bench {

namespace {

constexpr int64_t kBigBatch = 128;
constexpr uint64_t kGridSeed = 20250423;

ProblemSpec make_spec(int64_t b, int s_q, int s_k, int h_q, flashmla::DType dtype, bool varlen) {
  ProblemSpec s;
  s.b = b;
  s.s_q = s_q;
  s.s_k = s_k;
  s.h_q = h_q;
  s.h_kv = 1;
  s.dtype = dtype;
  s.varlen = varlen;
  s.causal = s_q > 1;
  return s;
}

}  // namespace

const char* timing_mode_name(TimingMode mode) {
  return mode == TimingMode::kGraph ? "graph x24" : "plain";
}

std::vector<GridConfig> design_grid() {
  using flashmla::DType;
  std::vector<GridConfig> grid;
  auto add = [&](ProblemSpec spec, TimingMode timing) {
    spec.seed = kGridSeed + grid.size();
    grid.push_back(GridConfig{spec, timing});
  };
  for (int s_k : {4096, 8192, 16384}) {
    for (int h_q : {16, 32, 64, 128}) {
      for (int s_q : {1, 2}) {
        for (bool varlen : {false, true})
          add(make_spec(kBigBatch, s_q, s_k, h_q, DType::kBFloat16, varlen), TimingMode::kPlain);
      }
    }
  }
  add(make_spec(kBigBatch, 1, 8192, 128, DType::kFloat16, false), TimingMode::kPlain);

  add(make_spec(1, 1, 65536, 128, DType::kBFloat16, false), TimingMode::kGraph);
  add(make_spec(1, 1, 4096, 128, DType::kBFloat16, false), TimingMode::kGraph);
  // The mixed-length speculative batch of the target table; s_k is the mean length (rounded).
  ProblemSpec mixed = make_spec(4, 4, 13296, 16, DType::kBFloat16, true);
  mixed.seqlens = {4641, 45118, 1730, 1696};
  add(mixed, TimingMode::kGraph);
  add(make_spec(32, 1, 8192, 128, DType::kBFloat16, false), TimingMode::kGraph);
  return grid;
}

void print_grid(const std::vector<GridConfig>& grid) {
  std::printf("%4s  %-5s %4s %4s %6s %4s %4s %-7s %-6s  %s\n", "row", "dtype", "b", "s_q", "s_k",
              "h_q", "h_kv", "varlen", "causal", "timing");
  for (size_t i = 0; i < grid.size(); ++i) {
    const ProblemSpec& s = grid[i].spec;
    std::printf("%4zu  %-5s %4lld %4d %6d %4d %4d %-7s %-6s  %s", i, short_dtype_name(s.dtype),
                static_cast<long long>(s.b), s.s_q, s.s_k, s.h_q, s.h_kv, s.varlen ? "yes" : "no",
                s.causal ? "yes" : "no", timing_mode_name(grid[i].timing));
    if (!s.seqlens.empty()) {
      std::printf("  lengths");
      for (size_t j = 0; j < s.seqlens.size(); ++j)
        std::printf("%s%d", j ? "/" : " ", s.seqlens[j]);
    }
    std::printf("\n");
  }
}

}  // namespace bench
