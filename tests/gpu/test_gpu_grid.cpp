// The DESIGN.md section 5 grid on the GPU: b = 128; s_k 4096, 8192, 16384; h_q 16..128; s_q 1, 2;
// fixed and variable lengths; bf16 (and fp16 at s_k = 8192). Caches are made on the GPU (gigabytes),
// block tables are random permutations of the pages, slots past each length hold NaN. Each output
// is checked fully written; a sample of sequences (the longest, the shortest and random ones) is
// recomputed by the CPU backend from the very bytes the GPU read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>

#include "gpu/gpu_support.h"
#include "test_support.h"

namespace flashmla {
namespace test {
namespace {

constexpr int64_t kBatch = 128;
constexpr int kSampledSequences = 3;

struct GridCache {
  DType dtype;
  std::vector<int32_t> seqlens;
  std::vector<int32_t> block_table;
  int64_t max_pages = 0;
  int64_t num_blocks = 0;
  DeviceBuffer k_cache, d_table, d_seqlens;
  uint64_t seed = 0;
};

void build_cache(int s_k, bool varlen, DType dtype, uint64_t seed, GridCache* c) {
  std::mt19937_64 rng(seed);
  c->dtype = dtype;
  c->seed = seed;
  c->seqlens.assign(kBatch, s_k);
  if (varlen) {
    std::normal_distribution<double> len(s_k, s_k / 4.0);
    for (auto& l : c->seqlens) l = static_cast<int32_t>(std::clamp(len(rng), 2.0, 2.0 * s_k));
  }
  int64_t total_pages = 0;
  c->max_pages = 0;
  for (int32_t l : c->seqlens) {
    total_pages += (l + kPageSize - 1) / kPageSize;
    c->max_pages = std::max<int64_t>(c->max_pages, (l + kPageSize - 1) / kPageSize);
  }
  c->num_blocks = total_pages + 16;
  std::vector<int32_t> perm(static_cast<size_t>(c->num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  c->block_table.assign(static_cast<size_t>(kBatch * c->max_pages), -1);  // unused entries: invalid
  size_t next = 0;
  for (int64_t n = 0; n < kBatch; ++n)
    for (int64_t j = 0; j < (c->seqlens[n] + kPageSize - 1) / kPageSize; ++j)
      c->block_table[n * c->max_pages + j] = perm[next++];
  const int64_t elems = c->num_blocks * kPageSize * kHeadDimK;
  c->k_cache.resize(static_cast<size_t>(elems) * 2);
  c->d_table.resize(c->block_table.size() * 4);
  c->d_seqlens.resize(c->seqlens.size() * 4);
  ASSERT_NE(c->k_cache.get(), nullptr) << "cannot allocate " << elems * 2 << " bytes";
  CUDA_OK(cudaMemcpy(c->d_table.get(), c->block_table.data(), c->d_table.bytes(), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(c->d_seqlens.get(), c->seqlens.data(), c->d_seqlens.bytes(), cudaMemcpyHostToDevice));
  CUDA_OK(fill_random_half(c->k_cache.get(), elems, dtype, seed, nullptr));
  CUDA_OK(poison_tails(c->k_cache.get(), dtype, kPageSize * kHeadDimK, 1, c->d_seqlens.as<int32_t>(),
                       c->d_table.as<int32_t>(), c->max_pages, kBatch, seed, true, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
}

struct GridWorst {
  double out = 0, lse = 0;
  int cases = 0;
  ~GridWorst() {
    std::printf("[gpu grid] %d configurations; largest relative error: out %.3g, lse %.3g\n", cases,
                out, lse);
  }
};
GridWorst g_grid;

// One configuration: decode on the GPU, then the CPU backend on the sampled sequences.
void run_config(GridCache& c, int s_q, int h_q, uint64_t seed) {
  SCOPED_TRACE("s_q=" + std::to_string(s_q) + " h_q=" + std::to_string(h_q) + " dtype=" + dtype_name(c.dtype));
  const Device dev{DeviceType::kCUDA, 0};
  const int64_t q_elems = kBatch * s_q * h_q * kHeadDimK;
  DeviceBuffer q(static_cast<size_t>(q_elems) * 2);
  CUDA_OK(fill_random_half(q.get(), q_elems, c.dtype, seed, nullptr));
  DeviceProblem p;
  p.q = TensorView::contiguous(q.get(), c.dtype, dev, {kBatch, s_q, h_q, kHeadDimK});
  p.k_cache = TensorView::contiguous(c.k_cache.get(), c.dtype, dev, {c.num_blocks, kPageSize, 1, kHeadDimK});
  p.block_table = TensorView::contiguous(c.d_table.get(), DType::kInt32, dev, {kBatch, c.max_pages});
  p.seqlens = TensorView::contiguous(c.d_seqlens.get(), DType::kInt32, dev, {kBatch});
  p.b = kBatch;
  p.s_q = s_q;
  p.h_q = h_q;
  p.h_kv = 1;
  p.dtype = c.dtype;
  p.causal = s_q > 1;
  const GpuOutputs gpu = run_gpu(p, nullptr);
  ASSERT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  EXPECT_EQ(gpu.unwritten_out, 0);
  EXPECT_EQ(gpu.unwritten_lse, 0);

  // The sampled sequences as a host problem with a compact block table.
  std::vector<int64_t> picks;
  picks.push_back(std::max_element(c.seqlens.begin(), c.seqlens.end()) - c.seqlens.begin());
  picks.push_back(std::min_element(c.seqlens.begin(), c.seqlens.end()) - c.seqlens.begin());
  std::mt19937_64 rng(seed);
  while (static_cast<int>(picks.size()) < kSampledSequences) picks.push_back(static_cast<int64_t>(rng() % kBatch));
  DecodeProblem sub;
  sub.spec.b = static_cast<int64_t>(picks.size());
  sub.spec.s_q = s_q;
  sub.spec.h_q = h_q;
  sub.spec.h_kv = 1;
  sub.spec.dtype = c.dtype;
  sub.spec.causal = p.causal;
  sub.max_blocks = 0;
  for (int64_t n : picks) {
    sub.seqlens.push_back(c.seqlens[n]);
    sub.max_blocks = std::max<int64_t>(sub.max_blocks, (c.seqlens[n] + kPageSize - 1) / kPageSize);
  }
  const int64_t page_elems = kPageSize * kHeadDimK;
  const int64_t q_seq_elems = s_q * h_q * kHeadDimK;
  sub.block_table.assign(static_cast<size_t>(sub.spec.b * sub.max_blocks), 0);
  sub.q.resize(static_cast<size_t>(sub.spec.b * q_seq_elems));
  for (size_t i = 0; i < picks.size(); ++i) {
    const int64_t n = picks[i];
    CUDA_OK(cudaMemcpy(sub.q.data() + i * q_seq_elems, q.as<uint16_t>() + n * q_seq_elems,
                       q_seq_elems * 2, cudaMemcpyDeviceToHost));
    for (int64_t j = 0; j < (c.seqlens[n] + kPageSize - 1) / kPageSize; ++j) {
      const int64_t page = c.block_table[n * c.max_pages + j];
      sub.block_table[i * sub.max_blocks + j] = static_cast<int32_t>(sub.num_blocks++);
      sub.k_cache.resize(static_cast<size_t>(sub.num_blocks * page_elems));
      CUDA_OK(cudaMemcpy(sub.k_cache.data() + (sub.num_blocks - 1) * page_elems,
                         c.k_cache.as<uint16_t>() + page * page_elems, page_elems * 2,
                         cudaMemcpyDeviceToHost));
    }
  }
  if (sub.num_blocks == 0) {
    sub.num_blocks = 1;
    sub.k_cache.assign(static_cast<size_t>(page_elems), 0);
  }
  sub.q_stride[0] = q_seq_elems; sub.q_stride[1] = h_q * kHeadDimK; sub.q_stride[2] = kHeadDimK; sub.q_stride[3] = 1;
  sub.k_stride[0] = page_elems; sub.k_stride[1] = kHeadDimK; sub.k_stride[2] = kHeadDimK; sub.k_stride[3] = 1;
  sub.table_stride[0] = sub.max_blocks; sub.table_stride[1] = 1;
  const CpuRun cpu = run_cpu(sub, 8);
  ASSERT_TRUE(cpu.status.ok()) << cpu.status.to_string();

  std::vector<uint16_t> gpu_out;
  std::vector<float> gpu_lse;
  const int64_t out_seq = s_q * h_q * kHeadDimV, lse_seq = h_q * s_q;
  for (int64_t n : picks) {
    gpu_out.insert(gpu_out.end(), gpu.out.begin() + n * out_seq, gpu.out.begin() + (n + 1) * out_seq);
    gpu_lse.insert(gpu_lse.end(), gpu.lse.begin() + n * lse_seq, gpu.lse.begin() + (n + 1) * lse_seq);
  }
  const double out_err = rel_error(widen(gpu_out, c.dtype), widen(cpu.out, c.dtype));
  const double lse_err = lse_rel_error(widen(gpu_lse), widen(cpu.lse));
  g_grid.out = std::max(g_grid.out, out_err);
  g_grid.lse = std::max(g_grid.lse, lse_err);
  ++g_grid.cases;
  EXPECT_LT(out_err, c.dtype == DType::kBFloat16 ? 1e-2 : 2e-3);
  EXPECT_LT(lse_err, 1e-4);
}

class GpuGrid : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { REQUIRE_HOPPER(); }
};

TEST_P(GpuGrid, AllHeadsTokensAndLengthModes) {
  const int s_k = GetParam();
  for (bool varlen : {false, true}) {
    GridCache cache;
    build_cache(s_k, varlen, DType::kBFloat16, 1000 + s_k + varlen, &cache);
    if (HasFatalFailure()) return;
    for (int h_q : {16, 32, 64, 128})
      for (int s_q : {1, 2}) run_config(cache, s_q, h_q, 17 * h_q + s_q + s_k);
    if (s_k == 8192 && !varlen) {
      GridCache half;
      cache.k_cache.resize(0);
      build_cache(s_k, varlen, DType::kFloat16, 77, &half);
      if (HasFatalFailure()) return;
      for (int h_q : {16, 32, 128}) run_config(half, 1, h_q, 5 + h_q);  // one row count per kernel
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SeqLens, GpuGrid, ::testing::Values(4096, 8192, 16384));

}  // namespace
}  // namespace test
}  // namespace flashmla
