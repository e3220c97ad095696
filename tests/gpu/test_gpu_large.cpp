// The GPU path at sizes where 32-bit arithmetic or one-off buffer sizing would break: a KV cache of
// more than 2^31 elements and 4 GiB whose block tables point at pages past the int32 element
// offset, one sequence of 2^20 tokens, and a batch of 4096 sequences. Caches are made on the GPU;
// every output is checked fully written, the GPU plan is compared with the host scheduler, and a
// sample of sequences (the longest, the one holding the highest page ids, others) is recomputed by
// the CPU backend from the bytes the GPU read.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/scheduler.h"
#include "gpu/gpu_support.h"
#include "test_support.h"

namespace flashmla {
namespace test {
namespace {

constexpr int64_t kPageElems = int64_t{kPageSize} * kHeadDimK;  // one page, h_kv = 1
// The first page whose first element lies at or past element offset 2^31.
constexpr int64_t kFirstPageBeyondInt32 = ((int64_t{1} << 31) + kPageElems - 1) / kPageElems;

double tolerance(DType dtype) { return dtype == DType::kBFloat16 ? 1e-2 : 2e-3; }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Parts for the CPU reference: more than its threads, so that one long sequence is shared evenly.
int cpu_reference_parts() { return std::max(16, 2 * cpu_num_sm_parts()); }

// A batch's lengths and page assignment on the host, and its cache on the device (h_kv = 1).
struct LargeBatch {
  DType dtype = DType::kBFloat16;
  uint64_t seed = 0;
  std::vector<int32_t> seqlens;
  int64_t num_blocks = 0;
  int64_t max_pages = 0;             // block table columns
  std::vector<int32_t> block_table;  // [b, max_pages]
  std::vector<int32_t> spare_pages;  // pages no sequence uses: NaN on the device
  DeviceBuffer k_cache, d_table, d_seqlens;

  int64_t batch() const { return static_cast<int64_t>(seqlens.size()); }
  int64_t pages(int64_t n) const { return scheduler::pages_of(seqlens[static_cast<size_t>(n)]); }
};

// Hands out `order` (page ids) to the sequences in turn; the remaining pages of the cache are
// spare. Table entries past a sequence's pages hold garbage a decoder must not follow.
void assign_pages(const std::vector<int32_t>& order, std::mt19937_64& rng, LargeBatch* lb) {
  lb->max_pages = 1;
  int64_t used = 0;
  for (int64_t n = 0; n < lb->batch(); ++n) {
    lb->max_pages = std::max(lb->max_pages, lb->pages(n) + 1);
    used += lb->pages(n);
  }
  ASSERT_LE(used, static_cast<int64_t>(order.size())) << "more pages needed than given";
  std::uniform_int_distribution<int64_t> any_page(0, lb->num_blocks - 1);
  lb->block_table.resize(static_cast<size_t>(lb->batch() * lb->max_pages));
  for (int32_t& e : lb->block_table) {
    const int kind = static_cast<int>(rng() % 3);
    e = kind == 0   ? -1
        : kind == 1 ? std::numeric_limits<int32_t>::max() - 7
                    : static_cast<int32_t>(any_page(rng));
  }
  std::vector<bool> taken(static_cast<size_t>(lb->num_blocks), false);
  size_t next = 0;
  for (int64_t n = 0; n < lb->batch(); ++n) {
    for (int64_t j = 0; j < lb->pages(n); ++j) {
      const int32_t page = order[next++];
      lb->block_table[static_cast<size_t>(n * lb->max_pages + j)] = page;
      taken[static_cast<size_t>(page)] = true;
    }
  }
  lb->spare_pages.clear();
  for (int64_t page = 0; page < lb->num_blocks; ++page)
    if (!taken[static_cast<size_t>(page)]) lb->spare_pages.push_back(static_cast<int32_t>(page));
}

// Random values in every page, then NaN in the spare pages and past each length in its last page.
void upload(LargeBatch* lb) {
  const int64_t elems = lb->num_blocks * kPageElems;
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (static_cast<double>(free_bytes) < 1.5 * static_cast<double>(elems) * 2) {
    GTEST_SKIP() << "needs " << elems * 2 / (1 << 20) << " MiB for the cache plus room for the "
                 << "outputs; the GPU has " << free_bytes / (1 << 20) << " MiB free";
  }
  lb->k_cache.resize(static_cast<size_t>(elems) * 2);
  lb->d_table.resize(lb->block_table.size() * 4);
  lb->d_seqlens.resize(lb->seqlens.size() * 4);
  ASSERT_NE(lb->k_cache.get(), nullptr) << "cannot allocate " << elems * 2 << " bytes";
  ASSERT_NE(lb->d_table.get(), nullptr);
  ASSERT_NE(lb->d_seqlens.get(), nullptr);
  CUDA_OK(cudaMemcpy(lb->d_table.get(), lb->block_table.data(), lb->d_table.bytes(),
                     cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(lb->d_seqlens.get(), lb->seqlens.data(), lb->d_seqlens.bytes(),
                     cudaMemcpyHostToDevice));
  CUDA_OK(fill_random_half(lb->k_cache.get(), elems, lb->dtype, lb->seed, nullptr));
  for (int32_t page : lb->spare_pages) {
    CUDA_OK(fill_nan_half(lb->k_cache.as<uint16_t>() + page * kPageElems, kPageElems, lb->dtype,
                          nullptr));
  }
  CUDA_OK(poison_tails(lb->k_cache.get(), lb->dtype, kPageElems, 1, lb->d_seqlens.as<int32_t>(),
                       lb->d_table.as<int32_t>(), lb->max_pages, lb->batch(), lb->seed, true,
                       nullptr));
  CUDA_OK(cudaDeviceSynchronize());
}

int64_t highest_page_of(const LargeBatch& lb, int64_t n) {
  int64_t top = -1;
  for (int64_t j = 0; j < lb.pages(n); ++j)
    top = std::max<int64_t>(top, lb.block_table[static_cast<size_t>(n * lb.max_pages + j)]);
  return top;
}

// The sequences the CPU recomputes: the longest, the one holding the highest page id, optionally
// the shortest, then distinct random ones up to `count`.
std::vector<int64_t> pick_sequences(const LargeBatch& lb, bool shortest, size_t count,
                                    uint64_t seed) {
  std::vector<int64_t> picks;
  auto add = [&picks](int64_t n) {
    if (std::find(picks.begin(), picks.end(), n) == picks.end()) picks.push_back(n);
  };
  add(std::max_element(lb.seqlens.begin(), lb.seqlens.end()) - lb.seqlens.begin());
  int64_t top_seq = 0;
  for (int64_t n = 1; n < lb.batch(); ++n)
    if (highest_page_of(lb, n) > highest_page_of(lb, top_seq)) top_seq = n;
  add(top_seq);
  if (shortest) add(std::min_element(lb.seqlens.begin(), lb.seqlens.end()) - lb.seqlens.begin());
  std::mt19937_64 rng(seed);
  count = std::min(count, static_cast<size_t>(lb.batch()));
  while (picks.size() < count) add(static_cast<int64_t>(rng() % static_cast<uint64_t>(lb.batch())));
  return picks;
}

// One shape over the batch: decode on the GPU, compare the plan with the host scheduler, then the
// CPU backend on the sampled sequences.
void run_config(const LargeBatch& lb, int s_q, int h_q, const std::vector<int64_t>& picks,
                uint64_t seed) {
  const std::string what = "b=" + std::to_string(lb.batch()) + " s_q=" + std::to_string(s_q) +
                           " h_q=" + std::to_string(h_q) + " " + dtype_name(lb.dtype);
  SCOPED_TRACE(what);
  const Device dev{DeviceType::kCUDA, 0};
  const int64_t b = lb.batch();
  const int64_t q_elems = b * s_q * h_q * kHeadDimK;
  DeviceBuffer q(static_cast<size_t>(q_elems) * 2);
  ASSERT_NE(q.get(), nullptr) << "cannot allocate q";
  CUDA_OK(fill_random_half(q.get(), q_elems, lb.dtype, seed, nullptr));
  DeviceProblem p;
  p.q = TensorView::contiguous(q.get(), lb.dtype, dev, {b, s_q, h_q, kHeadDimK});
  p.k_cache = TensorView::contiguous(lb.k_cache.get(), lb.dtype, dev,
                                     {lb.num_blocks, kPageSize, 1, kHeadDimK});
  p.block_table = TensorView::contiguous(lb.d_table.get(), DType::kInt32, dev, {b, lb.max_pages});
  p.seqlens = TensorView::contiguous(lb.d_seqlens.get(), DType::kInt32, dev, {b});
  p.b = b;
  p.s_q = s_q;
  p.h_q = h_q;
  p.h_kv = 1;
  p.dtype = lb.dtype;
  p.causal = s_q > 1;

  const auto gpu_start = std::chrono::steady_clock::now();
  const GpuOutputs gpu = run_gpu(p, nullptr);
  const double gpu_seconds = seconds_since(gpu_start);
  ASSERT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  EXPECT_EQ(gpu.unwritten_out, 0);
  EXPECT_EQ(gpu.unwritten_lse, 0);

  const int parts = static_cast<int>(gpu.metadata.size() / kMetadataFields);
  std::vector<int32_t> host_meta(gpu.metadata.size()), host_splits(gpu.num_splits.size());
  ASSERT_TRUE(scheduler::plan_on_host(lb.seqlens.data(), b, parts, p.s_q * p.h_q, 1,
                                      host_meta.data(), host_splits.data()));
  EXPECT_EQ(gpu.metadata, host_meta) << "GPU metadata differs from the host scheduler";
  EXPECT_EQ(gpu.num_splits, host_splits);

  const SampleCheck check = check_sequences_on_cpu(p, gpu, picks, cpu_reference_parts());
  ASSERT_TRUE(check.status.ok()) << check.status.to_string();
  EXPECT_EQ(check.cpu_unwritten, 0) << "the CPU reference left outputs unwritten";
  EXPECT_LT(check.out_err, tolerance(lb.dtype)) << "out relative error";
  EXPECT_LT(check.lse_err, 1e-4) << "lse relative error";
  std::printf(
      "[gpu large] %s: GPU step %.2f s; CPU reference over %zu sequences (%lld tokens) "
      "%.2f s; relative error out %.3g, lse %.3g\n",
      what.c_str(), gpu_seconds, picks.size(), static_cast<long long>(check.kv_tokens),
      check.cpu_seconds, check.out_err, check.lse_err);
}

class GpuLarge : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_HOPPER(); }
};

TEST_F(GpuLarge, CacheBeyond4GiBWithPagesPastTheInt32ElementOffset) {
  constexpr int64_t kNumBlocks = 80000;
  static_assert(kNumBlocks * kPageElems > (int64_t{1} << 31), "cache must exceed 2^31 elements");
  static_assert(kNumBlocks * kPageElems * 2 > (int64_t{4} << 30), "cache must exceed 4 GiB");
  constexpr int64_t kTopPages = 1000;  // sequence 0 lives entirely in the last pages
  constexpr int64_t kBatch = 100;
  constexpr int64_t kSpare = 64;
  LargeBatch lb;
  lb.seed = 2024;
  lb.num_blocks = kNumBlocks;
  std::mt19937_64 rng(lb.seed);

  // Sequence 0: the top 1000 pages in random order, a partial last page. Then the edge lengths
  // 0, 1 and 65, and the rest of the pages shared out at random among the others.
  lb.seqlens = {static_cast<int32_t>(kTopPages * kPageSize - 17), 0, 1, 65};
  const int64_t budget = kNumBlocks - kTopPages - kSpare - 1 - 2;
  std::uniform_real_distribution<double> weight(0.2, 1.8);
  std::vector<double> w(static_cast<size_t>(kBatch - 4));
  for (double& x : w) x = weight(rng);
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (double x : w) {
    const int64_t pages = std::max<int64_t>(1, static_cast<int64_t>(x / sum * budget));
    lb.seqlens.push_back(
        static_cast<int32_t>(pages * kPageSize - static_cast<int64_t>(rng() % 64)));
  }
  std::vector<int32_t> top(kTopPages), rest(static_cast<size_t>(kNumBlocks - kTopPages));
  std::iota(top.begin(), top.end(), static_cast<int32_t>(kNumBlocks - kTopPages));
  std::iota(rest.begin(), rest.end(), 0);
  std::shuffle(top.begin(), top.end(), rng);
  std::shuffle(rest.begin(), rest.end(), rng);
  std::vector<int32_t> order = top;
  order.insert(order.end(), rest.begin(), rest.end());
  assign_pages(order, rng, &lb);
  if (HasFatalFailure()) return;
  ASSERT_GE(lb.spare_pages.size(), static_cast<size_t>(kSpare));

  const auto start = std::chrono::steady_clock::now();
  upload(&lb);
  if (HasFatalFailure() || IsSkipped()) return;
  std::printf("[gpu large] %lld-page cache (%.2f GB, %lld elements) made in %.2f s\n",
              static_cast<long long>(kNumBlocks), kNumBlocks * kPageElems * 2 / 1e9,
              static_cast<long long>(kNumBlocks * kPageElems), seconds_since(start));

  const std::vector<int64_t> picks = pick_sequences(lb, /*shortest=*/false, 3, lb.seed);
  // The sample must reach past the int32 element offset, or the test proves nothing about it.
  int64_t highest = 0;
  for (int64_t n : picks) highest = std::max(highest, highest_page_of(lb, n));
  ASSERT_GE(highest, kFirstPageBeyondInt32);
  run_config(lb, 1, 16, picks, 31);
  run_config(lb, 2, 128, picks, 32);
}

TEST_F(GpuLarge, OneSequenceOfAMillionTokens) {
  constexpr int32_t kTokens = 1 << 20;
  LargeBatch lb;
  lb.seed = 4242;
  lb.seqlens = {kTokens};
  lb.num_blocks = kTokens / kPageSize + 16;
  std::mt19937_64 rng(lb.seed);
  std::vector<int32_t> order(static_cast<size_t>(lb.num_blocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  assign_pages(order, rng, &lb);
  if (HasFatalFailure()) return;
  upload(&lb);
  if (HasFatalFailure() || IsSkipped()) return;
  // The whole sequence is compared, at both ends of the head range (h_q = 128: ~0.3 TFLOP on the
  // CPU, seconds with 16 threads).
  run_config(lb, 1, 16, {0}, 41);
  run_config(lb, 1, 128, {0}, 42);
}

TEST_F(GpuLarge, BatchOf4096WithNormalLengths) {
  constexpr int64_t kBatch = 4096;
  LargeBatch lb;
  lb.seed = 777;
  std::mt19937_64 rng(lb.seed);
  std::normal_distribution<double> length(1024.0, 256.0);
  int64_t pages = 0;
  for (int64_t n = 0; n < kBatch; ++n) {
    lb.seqlens.push_back(static_cast<int32_t>(std::clamp(std::round(length(rng)), 2.0, 2048.0)));
    pages += lb.pages(n);
  }
  lb.num_blocks = pages + 16;
  std::vector<int32_t> order(static_cast<size_t>(lb.num_blocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  assign_pages(order, rng, &lb);
  if (HasFatalFailure()) return;
  upload(&lb);
  if (HasFatalFailure() || IsSkipped()) return;
  const std::vector<int64_t> picks = pick_sequences(lb, /*shortest=*/true, 4, lb.seed);
  run_config(lb, 1, 16, picks, 51);
  run_config(lb, 1, 128, picks, 52);
  run_config(lb, 2, 64, picks, 53);
}

}  // namespace
}  // namespace test
}  // namespace flashmla
