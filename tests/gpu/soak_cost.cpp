#include "gpu/soak_cost.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "flashmla/flashmla.h"
#include "gpu/gpu_support.h"

namespace flashmla {
namespace test {

namespace {

constexpr int64_t kBatch = 128;
constexpr int kWarmup = 5;
constexpr int64_t kPageElems = int64_t{kPageSize} * kHeadDimK;

#define COST_CUDA(expr)                                                                   \
  do {                                                                                    \
    const cudaError_t _e = (expr);                                                        \
    if (_e != cudaSuccess) {                                                              \
      std::fprintf(stderr, "check-cost: %s failed: %s\n", #expr, cudaGetErrorString(_e)); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

#define COST_OK(expr)                                                                     \
  do {                                                                                    \
    const Status _s = (expr);                                                             \
    if (!_s.ok()) {                                                                       \
      std::fprintf(stderr, "check-cost: %s failed: %s\n", #expr, _s.to_string().c_str()); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Cost {
  double off_us = 0, on_us = 0;          // CUDA events around one call, median
  double off_b2b_us = 0, on_b2b_us = 0;  // host wall time per call of `iters` back-to-back calls
};

// A b = 128 batch of s_k-token sequences with randomly permuted pages on the device.
struct CostCache {
  int64_t pages_per_seq = 0, num_blocks = 0;
  DeviceBuffer k_cache, table, seqlens;
};

int make_cache(int s_k, CostCache* c) {
  c->pages_per_seq = s_k / kPageSize;
  c->num_blocks = kBatch * c->pages_per_seq + 16;
  std::vector<int32_t> perm(static_cast<size_t>(c->num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(static_cast<uint64_t>(s_k));
  std::shuffle(perm.begin(), perm.end(), rng);
  perm.resize(static_cast<size_t>(kBatch * c->pages_per_seq));
  const std::vector<int32_t> lens(kBatch, s_k);
  c->k_cache.resize(static_cast<size_t>(c->num_blocks * kPageElems) * 2);
  c->table.resize(perm.size() * 4);
  c->seqlens.resize(lens.size() * 4);
  if (!c->k_cache.get() || !c->table.get() || !c->seqlens.get()) {
    std::fprintf(stderr, "check-cost: cannot allocate the s_k = %d cache\n", s_k);
    return 1;
  }
  COST_CUDA(cudaMemcpy(c->table.get(), perm.data(), c->table.bytes(), cudaMemcpyHostToDevice));
  COST_CUDA(cudaMemcpy(c->seqlens.get(), lens.data(), c->seqlens.bytes(), cudaMemcpyHostToDevice));
  COST_CUDA(
      fill_random_half(c->k_cache.get(), c->num_blocks * kPageElems, DType::kBFloat16, 5, nullptr));
  COST_CUDA(cudaDeviceSynchronize());
  return 0;
}

int measure(const CostCache& c, int h_q, int iters, cudaStream_t stream, Cost* cost) {
  const Device dev{DeviceType::kCUDA, 0};
  const int64_t q_elems = kBatch * h_q * kHeadDimK;
  DeviceBuffer q(static_cast<size_t>(q_elems) * 2);
  COST_CUDA(q.get() ? cudaSuccess : cudaErrorMemoryAllocation);
  COST_CUDA(fill_random_half(q.get(), q_elems, DType::kBFloat16, 6, stream));
  int parts = 0;
  COST_OK(get_num_sm_parts(dev, h_q, 1, &parts));
  DeviceBuffer meta(static_cast<size_t>(parts) * kMetadataFields * 4);
  DeviceBuffer splits(static_cast<size_t>(kBatch + 1) * 4);
  DeviceBuffer out(static_cast<size_t>(kBatch * h_q * kHeadDimV) * 2);
  DeviceBuffer lse(static_cast<size_t>(kBatch * h_q) * 4);
  DeviceBuffer ws(decode_workspace_size(kBatch, parts, h_q, 1));

  MetadataArgs m;
  m.cache_seqlens = TensorView::contiguous(c.seqlens.get(), DType::kInt32, dev, {kBatch});
  m.q_rows_per_kv_head = h_q;
  m.h_kv = 1;
  m.tile_scheduler_metadata =
      TensorView::contiguous(meta.get(), DType::kInt32, dev, {parts, kMetadataFields});
  m.num_splits = TensorView::contiguous(splits.get(), DType::kInt32, dev, {kBatch + 1});
  m.stream = stream;
  COST_OK(get_mla_metadata(m));

  DecodeArgs a;
  a.q = TensorView::contiguous(q.get(), DType::kBFloat16, dev, {kBatch, 1, h_q, kHeadDimK});
  a.k_cache = TensorView::contiguous(c.k_cache.get(), DType::kBFloat16, dev,
                                     {c.num_blocks, kPageSize, 1, kHeadDimK});
  a.block_table =
      TensorView::contiguous(c.table.get(), DType::kInt32, dev, {kBatch, c.pages_per_seq});
  a.cache_seqlens = m.cache_seqlens;
  a.tile_scheduler_metadata = m.tile_scheduler_metadata;
  a.num_splits = m.num_splits;
  a.out = TensorView::contiguous(out.get(), DType::kBFloat16, dev, {kBatch, 1, h_q, kHeadDimV});
  a.lse = TensorView::contiguous(lse.get(), DType::kFloat32, dev, {kBatch, h_q, 1});
  a.workspace = ws.get();
  a.workspace_bytes = ws.bytes();
  a.stream = stream;
  DecodeArgs checked = a;
  checked.check_inputs = true;

  for (int i = 0; i < kWarmup; ++i) {
    COST_OK(mla_decode_with_kvcache(a));
    COST_OK(mla_decode_with_kvcache(checked));
  }
  COST_CUDA(cudaStreamSynchronize(stream));

  // Interleaved, so that clock and thermal drift hit both modes alike.
  cudaEvent_t start, stop;
  COST_CUDA(cudaEventCreate(&start));
  COST_CUDA(cudaEventCreate(&stop));
  std::vector<double> off, on;
  for (int i = 0; i < iters; ++i) {
    for (const DecodeArgs* args : {&a, &checked}) {
      COST_CUDA(cudaEventRecord(start, stream));
      COST_OK(mla_decode_with_kvcache(*args));
      COST_CUDA(cudaEventRecord(stop, stream));
      COST_CUDA(cudaEventSynchronize(stop));
      float ms = 0.f;
      COST_CUDA(cudaEventElapsedTime(&ms, start, stop));
      (args == &a ? off : on).push_back(1000.0 * ms);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cost->off_us = median(off);
  cost->on_us = median(on);

  // Back to back: without checking the host queues ahead; with it every call waits for its check.
  for (const DecodeArgs* args : {&a, &checked}) {
    COST_CUDA(cudaStreamSynchronize(stream));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) COST_OK(mla_decode_with_kvcache(*args));
    COST_CUDA(cudaStreamSynchronize(stream));
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        iters;
    (args == &a ? cost->off_b2b_us : cost->on_b2b_us) = us;
  }
  return 0;
}

}  // namespace

int run_check_cost(int iters) {
  if (std::getenv("FLASHMLA_CHECK_INPUTS")) {
    // The variable would switch checking on in the "off" calls too.
    std::printf("check-cost: unsetting FLASHMLA_CHECK_INPUTS for this measurement\n");
    unsetenv("FLASHMLA_CHECK_INPUTS");
  }
  cudaStream_t stream;
  COST_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::printf(
      "check-cost: mla_decode_with_kvcache with DecodeArgs::check_inputs off vs on; b=128, s_q=1, "
      "bf16, fixed lengths, permuted pages.\n"
      "  events: CUDA events around each call, median of %d after %d warm-up calls per mode\n"
      "  b2b: host wall time per call of %d back-to-back calls (checking syncs every call)\n",
      iters, kWarmup, iters);
  std::printf("%8s %5s %10s %10s %10s %8s %10s %10s %10s\n", "s_k", "h_q", "off_us", "on_us",
              "added_us", "added_%", "b2b_off", "b2b_on", "b2b_added");
  double min_added = 1e30, max_added = 0, min_b2b = 1e30, max_b2b = 0;
  int rc = 0;
  for (int s_k : {4096, 16384}) {
    CostCache cache;
    if (make_cache(s_k, &cache) != 0) {
      rc = 1;
      continue;
    }
    for (int h_q : {16, 128}) {
      Cost c;
      if (measure(cache, h_q, iters, stream, &c) != 0) {
        rc = 1;
        continue;
      }
      const double added = c.on_us - c.off_us, b2b = c.on_b2b_us - c.off_b2b_us;
      min_added = std::min(min_added, added);
      max_added = std::max(max_added, added);
      min_b2b = std::min(min_b2b, b2b);
      max_b2b = std::max(max_b2b, b2b);
      std::printf("%8d %5d %10.1f %10.1f %10.1f %7.1f%% %10.1f %10.1f %10.1f\n", s_k, h_q, c.off_us,
                  c.on_us, added, 100.0 * added / c.off_us, c.off_b2b_us, c.on_b2b_us, b2b);
      std::fflush(stdout);
    }
  }
  cudaStreamDestroy(stream);
  if (rc == 0) {
    std::printf(
        "check-cost: input checking adds %.1f to %.1f us per call (events), %.1f to %.1f "
        "us per call back to back\n",
        min_added, max_added, min_b2b, max_b2b);
  }
  return rc;
}

}  // namespace test
}  // namespace flashmla
