// The GPU kernels against the CPU backend on the edge cases of DESIGN.md section 5 and on strided,
// multi-head, fp16 and causal variants. Every case draws fresh random inputs, poisons the outputs
// and puts NaN in every cache slot that must not be read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "gpu/gpu_support.h"
#include "test_support.h"

namespace flashmla {
namespace test {
namespace {

double tolerance(DType dtype) { return dtype == DType::kBFloat16 ? 1e-2 : 2e-3; }

struct Worst {
  double out = 0, lse = 0;
  ~Worst() { std::printf("[gpu edge cases] largest relative error: out %.3g, lse %.3g\n", out, lse); }
};
Worst g_worst;

// Runs one problem on the GPU and on the CPU backend and compares them.
void check_against_cpu(const ProblemSpec& spec, const char* what) {
  SCOPED_TRACE(what);
  const DecodeProblem host = make_problem(spec);
  UploadedProblem dev(host);
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const GpuOutputs gpu = run_gpu(dev.view, stream);
  cudaStreamDestroy(stream);
  ASSERT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  EXPECT_EQ(gpu.unwritten_out, 0);
  EXPECT_EQ(gpu.unwritten_lse, 0);
  // The CPU plans for the same number of parts as the GPU did, so even the split plan matches.
  const int parts = static_cast<int>(gpu.metadata.size() / kMetadataFields);
  const CpuRun cpu = run_cpu(host, parts);
  ASSERT_TRUE(cpu.status.ok()) << cpu.status.to_string();
  EXPECT_EQ(gpu.metadata, cpu.metadata) << "GPU metadata differs from the host scheduler";
  EXPECT_EQ(gpu.num_splits, cpu.num_splits);
  const double out_err = rel_error(widen(gpu.out, spec.dtype), widen(cpu.out, spec.dtype));
  const double lse_err = lse_rel_error(widen(gpu.lse), widen(cpu.lse));
  g_worst.out = std::max(g_worst.out, out_err);
  g_worst.lse = std::max(g_worst.lse, lse_err);
  EXPECT_LT(out_err, tolerance(spec.dtype)) << "out relative error";
  EXPECT_LT(lse_err, 1e-4) << "lse relative error";
}

class GpuEdgeCases : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_HOPPER(); }
};

TEST_F(GpuEdgeCases, SingleSequenceLengths) {
  for (int len : {0, 1, 63, 64, 65, 4096}) {
    for (int h_q : {16, 128}) {
      ProblemSpec s;
      s.b = 1;
      s.h_q = h_q;
      s.seqlens = {len};
      s.seed = 100 + len + h_q;
      check_against_cpu(s, ("b=1 len=" + std::to_string(len) + " h_q=" + std::to_string(h_q)).c_str());
    }
  }
}

TEST_F(GpuEdgeCases, MixedLengthsIncludingZero) {
  ProblemSpec s;
  s.b = 9;
  s.h_q = 64;
  s.seqlens = {0, 1, 63, 64, 65, 127, 128, 129, 3000};
  check_against_cpu(s, "mixed lengths");
}

TEST_F(GpuEdgeCases, CausalSpeculativeUpToEightTokens) {
  for (int s_q = 1; s_q <= 8; ++s_q) {
    for (int h_q : {16, 32, 128}) {
      ProblemSpec s;
      s.b = 5;
      s.s_q = s_q;
      s.h_q = h_q;
      s.causal = true;
      // Includes lengths shorter than s_q: those rows see no key (out 0, lse +inf).
      s.seqlens = {0, std::max(0, s_q - 2), s_q, 65, 700};
      s.seed = 7 * s_q + h_q;
      check_against_cpu(s, ("causal s_q=" + std::to_string(s_q) + " h_q=" + std::to_string(h_q)).c_str());
    }
  }
}

TEST_F(GpuEdgeCases, NonCausalMultiToken) {
  ProblemSpec s;
  s.b = 6;
  s.s_q = 2;
  s.h_q = 128;
  s.s_k = 1500;
  s.varlen = true;
  check_against_cpu(s, "s_q=2 varlen");
}

TEST_F(GpuEdgeCases, Float16) {
  for (int h_q : {16, 64, 128}) {
    ProblemSpec s;
    s.b = 6;
    s.h_q = h_q;
    s.s_k = 2000;
    s.varlen = true;
    s.dtype = DType::kFloat16;
    s.seed = 300 + h_q;
    check_against_cpu(s, ("fp16 h_q=" + std::to_string(h_q)).c_str());
  }
}

TEST_F(GpuEdgeCases, TwoKvHeads) {
  for (int s_q : {1, 3}) {
    ProblemSpec s;
    s.b = 4;
    s.s_q = s_q;
    s.h_q = 32;
    s.h_kv = 2;
    s.s_k = 900;
    s.varlen = true;
    s.causal = s_q > 1;
    check_against_cpu(s, ("h_kv=2 s_q=" + std::to_string(s_q)).c_str());
  }
}

TEST_F(GpuEdgeCases, StridedViewsAndCustomScale) {
  ProblemSpec s;
  s.b = 3;
  s.h_q = 32;
  s.s_k = 700;
  s.q_head_pad = 8;
  s.k_token_pad = 64;
  s.table_row_pad = 5;
  s.softmax_scale = 0.13f;
  check_against_cpu(s, "strided views");
}

// The seesaw kernel's Q tiles (64 rows and more per kv head) come by TMA where a tile is one box
// of the Q tensor map (heads per kv head a multiple or a divisor of 64) and by cp.async otherwise;
// each case below is one of those layouts.
TEST_F(GpuEdgeCases, SeesawQueryTileLayouts) {
  struct Case {
    int h_q, h_kv, s_q, q_head_pad;
    bool causal;
    const char* what;
  };
  const Case cases[] = {
      {128, 1, 1, 8, false, "TMA, padded head stride"},
      {96, 1, 2, 0, false, "cp.async: 96 heads per kv head, the second tile across tokens"},
      {128, 2, 2, 0, true, "TMA, second kv head's boxes"},
      {32, 1, 3, 0, true, "TMA, boxes of 2 tokens, the last tile half past s_q"},
      {16, 1, 5, 0, true, "TMA, boxes of 4 tokens, the last tile 3/4 past s_q"},
      {48, 1, 2, 0, false, "cp.async: 48 heads per kv head"},
  };
  for (const Case& c : cases) {
    ProblemSpec s;
    s.b = 5;
    s.h_q = c.h_q;
    s.h_kv = c.h_kv;
    s.s_q = c.s_q;
    s.causal = c.causal;
    s.q_head_pad = c.q_head_pad;
    s.seqlens = {0, 1, 200, 64 * 7, 1500};
    s.seed = 11 * c.h_q + c.s_q + c.q_head_pad;
    check_against_cpu(s, c.what);
  }
}

TEST_F(GpuEdgeCases, LongSequenceAndOneHugeAmongShort) {
  {
    ProblemSpec s;
    s.b = 1;
    s.h_q = 128;
    s.seqlens = {70000};
    check_against_cpu(s, "one 70000-token sequence");
  }
  {
    ProblemSpec s;
    s.b = 12;
    s.h_q = 16;
    s.seqlens = {5, 70, 300, 100000, 64, 1, 0, 128, 90, 2000, 33, 4};
    check_against_cpu(s, "one huge among short");
  }
}

TEST_F(GpuEdgeCases, ImbalancedSmallBatchFromTargets) {
  ProblemSpec s;
  s.b = 4;
  s.s_q = 4;
  s.h_q = 16;
  s.causal = true;
  s.seqlens = {4641, 45118, 1730, 1696};
  check_against_cpu(s, "b=4 s_q=4 imbalanced");
}

}  // namespace
}  // namespace test
}  // namespace flashmla
