// The CPU backend, through the public API, against the fp64 oracle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "cpu/split_buffers.h"
#include "oracle.h"
#include "test_support.h"

namespace flashmla {
namespace {

using test::CpuRun;
using test::DecodeProblem;
using test::ProblemSpec;

constexpr double kBf16Tolerance = 1e-2;
constexpr double kFp16Tolerance = 2e-3;
constexpr double kLseTolerance = 1e-5;

// Largest errors seen in this process, printed when it ends.
struct WorstErrors {
  double out_bf16 = 0, out_fp16 = 0, lse = 0;
  int cases = 0;
};
WorstErrors worst;

class PrintWorstErrors : public ::testing::Environment {
 public:
  void TearDown() override {
    if (worst.cases == 0) return;
    std::printf(
        "[ summary  ] CPU vs fp64 oracle over %d cases: max out rel err bf16 %.3g, fp16 %.3g; "
        "max lse rel err %.3g\n",
        worst.cases, worst.out_bf16, worst.out_fp16, worst.lse);
  }
};
const auto* const kPrinter = ::testing::AddGlobalTestEnvironment(new PrintWorstErrors);

struct Checked {
  CpuRun run;
  double out_error = 0;
  double lse_error = 0;
};

// Runs the CPU backend, compares it with the oracle and checks the no-key rows bit for bit.
Checked check_against_oracle(const DecodeProblem& p, int parts, bool caller_workspace = false) {
  Checked c;
  c.run = test::run_cpu(p, parts, caller_workspace);
  EXPECT_TRUE(c.run.status.ok()) << c.run.status.to_string();
  if (!c.run.status.ok()) return c;
  EXPECT_EQ(c.run.unwritten_out, 0);
  EXPECT_EQ(c.run.unwritten_lse, 0);

  const test::OracleResult ref =
      test::oracle_decode(p.q_view(), p.k_cache_view(), p.block_table_view(), p.seqlens_view(),
                          p.spec.softmax_scale, p.spec.causal);
  c.out_error = test::rel_error(test::widen(c.run.out, p.spec.dtype), ref.out);
  c.lse_error = test::lse_rel_error(test::widen(c.run.lse), ref.lse);
  const bool bf16 = p.spec.dtype == DType::kBFloat16;
  EXPECT_LT(c.out_error, bf16 ? kBf16Tolerance : kFp16Tolerance);
  EXPECT_LT(c.lse_error, kLseTolerance);

  // Rows that see no key: out exactly +0 and lse exactly +inf.
  const ProblemSpec& s = p.spec;
  int64_t empty_rows = 0, bad_rows = 0;
  for (int64_t n = 0; n < s.b; ++n) {
    for (int h = 0; h < s.h_q; ++h) {
      for (int i = 0; i < s.s_q; ++i) {
        const size_t li = static_cast<size_t>((n * s.h_q + h) * s.s_q + i);
        if (ref.lse[li] != std::numeric_limits<double>::infinity()) continue;
        ++empty_rows;
        bool exact = c.run.lse[li] == std::numeric_limits<float>::infinity();
        const size_t oi = static_cast<size_t>(((n * s.s_q + i) * s.h_q + h) * kHeadDimV);
        for (int d = 0; d < kHeadDimV; ++d) exact = exact && c.run.out[oi + d] == 0;
        bad_rows += exact ? 0 : 1;
      }
    }
  }
  EXPECT_EQ(bad_rows, 0) << "of " << empty_rows << " rows that see no key";

  (bf16 ? worst.out_bf16 : worst.out_fp16) =
      std::max(bf16 ? worst.out_bf16 : worst.out_fp16, c.out_error);
  worst.lse = std::max(worst.lse, c.lse_error);
  ++worst.cases;
  ::testing::Test::RecordProperty("out_rel_err", std::to_string(c.out_error));
  ::testing::Test::RecordProperty("lse_rel_err", std::to_string(c.lse_error));
  return c;
}

int64_t total_splits(const CpuRun& run) { return run.num_splits.back(); }

// ------------------------------------------------------------------------------------------
// The grid: h_q x h_kv x dtype x (s_q, causal, varlen), random pages, NaN in every unused slot.

struct GridCase {
  int h_q;
  int h_kv;
  DType dtype;
  int s_q;
  bool causal;
  bool varlen;
};

class CpuDecodeGrid : public ::testing::TestWithParam<GridCase> {};

TEST_P(CpuDecodeGrid, MatchesOracle) {
  const GridCase g = GetParam();
  ProblemSpec s;
  s.b = 4;
  s.s_q = g.s_q;
  s.h_q = g.h_q;
  s.h_kv = g.h_kv;
  s.dtype = g.dtype;
  s.causal = g.causal;
  s.varlen = g.varlen;
  s.s_k = 200;
  s.seed = static_cast<uint64_t>(g.h_q * 1000 + g.h_kv * 100 + g.s_q * 10 + (g.causal ? 1 : 0) +
                                 (g.varlen ? 2 : 0) + (g.dtype == DType::kFloat16 ? 5 : 0));
  const DecodeProblem p = test::make_problem(s);
  // A part count that splits sequences (about 3 pages per part), so the combine path runs on
  // every shape.
  const Checked c = check_against_oracle(p, 12);
  EXPECT_GT(total_splits(c.run), s.b);
}

std::vector<GridCase> grid_cases() {
  std::vector<GridCase> cases;
  for (int h_q : {16, 32, 64, 128}) {
    for (int h_kv : {1, 2}) {
      for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
        cases.push_back({h_q, h_kv, dtype, 1, false, false});
        cases.push_back({h_q, h_kv, dtype, 2, true, true});
        cases.push_back({h_q, h_kv, dtype, 4, true, false});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuDecodeGrid, ::testing::ValuesIn(grid_cases()),
                         [](const ::testing::TestParamInfo<GridCase>& param_info) {
                           const GridCase& g = param_info.param;
                           return "hq" + std::to_string(g.h_q) + "_hkv" + std::to_string(g.h_kv) +
                                  "_" + dtype_name(g.dtype) + "_sq" + std::to_string(g.s_q) +
                                  (g.causal ? "_causal" : "") + (g.varlen ? "_varlen" : "");
                         });

// ------------------------------------------------------------------------------------------

TEST(CpuDecode, CausalSpeculativeAllQueryLengths) {
  for (int s_q = 1; s_q <= kMaxQueryTokens; ++s_q) {
    for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
      SCOPED_TRACE("s_q=" + std::to_string(s_q) + " " + dtype_name(dtype));
      ProblemSpec s;
      s.b = 5;
      s.s_q = s_q;
      s.h_q = s_q % 2 ? 16 : 32;
      s.dtype = dtype;
      s.causal = true;
      s.varlen = true;
      s.s_k = 150;
      s.min_len = 0;
      s.seed = 77 + static_cast<uint64_t>(s_q);
      check_against_oracle(test::make_problem(s), 1 + s_q % 4);
    }
  }
}

TEST(CpuDecode, EdgeLengths) {
  for (int s_q : {1, 3}) {
    for (bool causal : {false, true}) {
      for (int parts : {1, 3, 17}) {
        SCOPED_TRACE("s_q=" + std::to_string(s_q) + " causal=" + std::to_string(causal) +
                     " parts=" + std::to_string(parts));
        ProblemSpec s;
        s.seqlens = {0, 1, 63, 64, 65, 128, 129, 2};
        s.s_q = s_q;
        s.h_q = 16;
        s.causal = causal;
        s.seed = 900 + static_cast<uint64_t>(parts * 4 + s_q + causal);
        check_against_oracle(test::make_problem(s), parts);
      }
    }
  }
}

TEST(CpuDecode, RowsThatSeeNoKeyGetZeroAndInfinity) {
  // s_q = 8, causal, lengths below s_q: token i of a sequence of length L sees keys up to
  // L - 8 + i, so the first 8 - L tokens see nothing.
  for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    ProblemSpec s;
    s.seqlens = {0, 1, 2, 7, 8, 9, 3};
    s.s_q = 8;
    s.h_q = 16;
    s.causal = true;
    s.dtype = dtype;
    s.seed = 31;
    const DecodeProblem p = test::make_problem(s);
    const Checked c = check_against_oracle(p, 4);
    // Count the empty rows independently of the oracle: sum over sequences of max(0, 8 - L).
    int64_t expected_empty = 0;
    for (int32_t len : s.seqlens) expected_empty += std::max(0, 8 - len) * s.h_q;
    int64_t inf_rows = 0;
    for (float v : c.run.lse) inf_rows += v == std::numeric_limits<float>::infinity() ? 1 : 0;
    EXPECT_EQ(inf_rows, expected_empty);
  }
}

// With one page per part, the last split of a causal sequence of length 64k + 2 holds tokens the
// first query tokens may not see: those rows have an empty split (lse -inf) that the combine must
// weigh by zero without reading its partial output (the caller's workspace starts as NaN).
TEST(CpuDecode, CausalRowsHiddenFromTheLastSplit) {
  for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    ProblemSpec s;
    s.seqlens = {322, 130};
    s.s_q = 8;
    s.h_q = 16;
    s.causal = true;
    s.dtype = dtype;
    s.seed = 64;
    const DecodeProblem p = test::make_problem(s);
    const Checked c = check_against_oracle(p, 32, /*caller_workspace=*/true);
    EXPECT_EQ(c.run.num_splits[1], 6);  // one split per page
    EXPECT_EQ(c.run.num_splits[2], 9);
  }
}

TEST(CpuDecode, AllSequencesEmpty) {
  ProblemSpec s;
  s.seqlens = {0, 0, 0};
  s.s_q = 2;
  s.h_q = 32;
  s.h_kv = 2;
  const DecodeProblem p = test::make_problem(s);
  for (int parts : {1, 2, 7}) {
    const CpuRun run = test::run_cpu(p, parts);
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    for (float v : run.lse) ASSERT_EQ(v, std::numeric_limits<float>::infinity());
    for (uint16_t v : run.out) ASSERT_EQ(v, 0);
  }
}

TEST(CpuDecode, OneLongSequenceAmongShortOnes) {
  ProblemSpec s;
  s.seqlens = {3, 70000, 100, 0, 64};
  s.s_q = 1;
  s.h_q = 16;
  s.seed = 5;
  const DecodeProblem p = test::make_problem(s);
  const Checked c = check_against_oracle(p, 17);
  // The long sequence must have been cut into many splits and combined.
  const int64_t long_splits = c.run.num_splits[2] - c.run.num_splits[1];
  EXPECT_GE(long_splits, 10);
}

TEST(CpuDecode, SingleLongBatchManySplitsFp16) {
  ProblemSpec s;
  s.b = 1;
  s.s_k = 2048;
  s.h_q = 128;
  s.dtype = DType::kFloat16;
  s.seed = 11;
  const Checked c = check_against_oracle(test::make_problem(s), 132);
  EXPECT_EQ(total_splits(c.run), 2048 / kPageSize);  // one page per part
}

// Different part counts change only the order of float sums: lse agrees to fp32 rounding and every
// output element to within one unit in the last place of the output dtype (or fp32 rounding of
// the O(1) sum, for elements near zero).
TEST(CpuDecode, PartCountsAgreeToFloatRounding) {
  for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    ProblemSpec s;
    s.b = 8;
    s.s_q = 2;
    s.h_q = 32;
    s.dtype = dtype;
    s.causal = true;
    s.varlen = true;
    s.s_k = 512;
    s.seed = 2024;
    const DecodeProblem p = test::make_problem(s);
    const Checked base = check_against_oracle(p, 1);
    ASSERT_EQ(total_splits(base.run), s.b);
    int64_t previous_splits = s.b;
    for (int parts : {3, 17, 132}) {
      SCOPED_TRACE("parts=" + std::to_string(parts));
      const Checked other = check_against_oracle(p, parts);
      EXPECT_GT(total_splits(other.run), previous_splits);
      previous_splits = total_splits(other.run);
      EXPECT_LT(test::lse_rel_error(test::widen(other.run.lse), test::widen(base.run.lse)), 1e-6);
      // Elements near zero have tiny ulps: there a difference of fp32 rounding size (relative to
      // the O(1) values being summed) is accepted instead.
      const std::vector<double> a = test::widen(other.run.out, dtype);
      const std::vector<double> b = test::widen(base.run.out, dtype);
      int64_t differing = 0, beyond = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const int ulp = test::ulp_distance(other.run.out[i], base.run.out[i]);
        differing += ulp ? 1 : 0;
        if (ulp > 1 && std::fabs(a[i] - b[i]) > 2e-6) ++beyond;
      }
      EXPECT_EQ(beyond, 0);
      EXPECT_LT(differing, static_cast<int64_t>(base.run.out.size() / 20));
    }
  }
}

TEST(CpuDecode, DeterministicAcrossRunsAndThreadCounts) {
  ProblemSpec s;
  s.b = 6;
  s.s_q = 2;
  s.h_q = 16;
  s.varlen = true;
  s.s_k = 300;
  s.seed = 8;
  const DecodeProblem p = test::make_problem(s);
  const char* saved = std::getenv("FLASHMLA_CPU_THREADS");
  const std::string saved_value = saved ? saved : "";
  std::vector<CpuRun> runs;
  for (const char* threads : {"1", "4", "4"}) {
    setenv("FLASHMLA_CPU_THREADS", threads, 1);
    runs.push_back(test::run_cpu(p, 9));
  }
  if (saved)
    setenv("FLASHMLA_CPU_THREADS", saved_value.c_str(), 1);
  else
    unsetenv("FLASHMLA_CPU_THREADS");
  for (const CpuRun& run : runs) {
    ASSERT_TRUE(run.status.ok()) << run.status.to_string();
    EXPECT_EQ(run.out, runs[0].out);
    EXPECT_EQ(run.lse, runs[0].lse);
  }
}

TEST(CpuDecode, CallerWorkspace) {
  ProblemSpec s;
  s.b = 3;
  s.s_q = 2;
  s.h_q = 64;
  s.h_kv = 2;
  s.causal = true;
  s.varlen = true;
  s.s_k = 400;
  s.seed = 99;
  const DecodeProblem p = test::make_problem(s);
  const Checked own = check_against_oracle(p, 6, /*caller_workspace=*/false);
  const Checked given = check_against_oracle(p, 6, /*caller_workspace=*/true);
  EXPECT_GT(total_splits(given.run), s.b);
  EXPECT_EQ(own.run.out, given.run.out);
  EXPECT_EQ(own.run.lse, given.run.lse);
}

TEST(CpuDecode, StridedViews) {
  for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    ProblemSpec s;
    s.b = 3;
    s.s_q = 2;
    s.h_q = 32;
    s.h_kv = 2;
    s.dtype = dtype;
    s.causal = true;
    s.varlen = true;
    s.s_k = 200;
    s.q_head_pad = 64;    // NaN between query heads
    s.k_token_pad = 32;   // NaN between cache tokens
    s.table_row_pad = 5;  // garbage between block-table rows
    s.seed = 4242;
    check_against_oracle(test::make_problem(s), 4);
  }
}

// The backend's view of a caller's workspace must fit in what the public size function promises.
TEST(CpuDecode, SplitBufferLayoutFitsTheWorkspaceSize) {
  for (int64_t b : {1, 7, 128, 4096}) {
    for (int parts : {1, 3, 132}) {
      for (int q_rows : {1, 16, 1024}) {
        for (int h_kv : {1, 2}) {
          const int64_t splits = b + parts;
          const size_t size = decode_workspace_size(b, parts, q_rows, h_kv);
          EXPECT_LE(cpu::SplitBuffers::bytes(splits, q_rows, h_kv), size);
          EXPECT_EQ(cpu::SplitBuffers::lse_offset(splits, q_rows, h_kv) % 16, 0u);
        }
      }
    }
  }
}

TEST(CpuDecode, ExplicitSoftmaxScale) {
  ProblemSpec s;
  s.b = 2;
  s.h_q = 16;
  s.s_k = 300;
  s.softmax_scale = 0.11f;
  s.seed = 3;
  check_against_oracle(test::make_problem(s), 3);
}

}  // namespace
}  // namespace flashmla
