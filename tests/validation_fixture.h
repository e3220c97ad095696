// A small, valid decode problem on the CPU for the validation tests: every buffer owned here, views
// over them on demand, so that a test can break exactly one property of an otherwise valid call.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "flashmla/flashmla.h"
#include "flashmla/half.h"

namespace flashmla {
namespace validation_test {

// Bit patterns no decode would produce from the fixture's data, to tell "untouched" from
// "written".
constexpr uint16_t kOutSentinel = 0x7A5Au;
constexpr float kLseSentinel = -12345.5f;
constexpr int32_t kPlanSentinel = -777;

struct ProblemConfig {
  int64_t batch = 3;
  int64_t s_q = 2;
  int64_t h_q = 8;
  int64_t h_kv = 2;
  int64_t max_blocks = 6;
  int64_t num_blocks = 10;
  // One long sequence that the plan splits, an empty one, and one of exactly one page.
  std::vector<int32_t> seqlens = {380, 0, 64};
  int parts = 5;
  DType dtype = DType::kBFloat16;
};

class DecodeFixture {
 public:
  explicit DecodeFixture(ProblemConfig config = ProblemConfig()) : config_(std::move(config)) {
    const ProblemConfig& c = config_;
    std::mt19937 rng(12345);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    q.resize(static_cast<size_t>(c.batch * c.s_q * c.h_q * kHeadDimK));
    k_cache.resize(static_cast<size_t>(c.num_blocks * kPageSize * c.h_kv * kHeadDimK));
    for (uint16_t& v : q) v = float_to_half(value(rng), c.dtype);
    for (uint16_t& v : k_cache) v = float_to_half(value(rng), c.dtype);

    // Pages handed out as a random permutation; entries past a sequence's pages are padding (-1).
    std::vector<int32_t> pages(static_cast<size_t>(c.num_blocks));
    std::iota(pages.begin(), pages.end(), 0);
    std::shuffle(pages.begin(), pages.end(), rng);
    block_table.assign(static_cast<size_t>(c.batch * c.max_blocks), -1);
    size_t next = 0;
    for (int64_t i = 0; i < c.batch; ++i) {
      const int64_t used = (c.seqlens[static_cast<size_t>(i)] + kPageSize - 1) / kPageSize;
      for (int64_t j = 0; j < used; ++j) block_table[i * c.max_blocks + j] = pages[next++];
    }
    seqlens = c.seqlens;
    metadata.assign(static_cast<size_t>(c.parts * kMetadataFields), kPlanSentinel);
    num_splits.assign(static_cast<size_t>(c.batch + 1), kPlanSentinel);
    out.assign(static_cast<size_t>(c.batch * c.s_q * c.h_q * kHeadDimV), kOutSentinel);
    lse.assign(static_cast<size_t>(c.batch * c.h_q * c.s_q), kLseSentinel);
  }

  const ProblemConfig& config() const { return config_; }
  int64_t q_rows() const { return config_.s_q * config_.h_q / config_.h_kv; }

  MetadataArgs metadata_args() {
    MetadataArgs a;
    a.cache_seqlens = view(seqlens.data(), DType::kInt32, {config_.batch});
    a.q_rows_per_kv_head = static_cast<int>(q_rows());
    a.h_kv = static_cast<int>(config_.h_kv);
    a.tile_scheduler_metadata =
        view(metadata.data(), DType::kInt32, {config_.parts, kMetadataFields});
    a.num_splits = view(num_splits.data(), DType::kInt32, {config_.batch + 1});
    return a;
  }

  // Fills metadata and num_splits with the library's own plan.
  Status plan() { return get_mla_metadata(metadata_args()); }

  DecodeArgs decode_args() {
    const ProblemConfig& c = config_;
    DecodeArgs a;
    a.q = view(q.data(), c.dtype, {c.batch, c.s_q, c.h_q, kHeadDimK});
    a.k_cache = view(k_cache.data(), c.dtype, {c.num_blocks, kPageSize, c.h_kv, kHeadDimK});
    a.block_table = view(block_table.data(), DType::kInt32, {c.batch, c.max_blocks});
    a.cache_seqlens = view(seqlens.data(), DType::kInt32, {c.batch});
    a.tile_scheduler_metadata = view(metadata.data(), DType::kInt32, {c.parts, kMetadataFields});
    a.num_splits = view(num_splits.data(), DType::kInt32, {c.batch + 1});
    a.out = view(out.data(), c.dtype, {c.batch, c.s_q, c.h_q, kHeadDimV});
    a.lse = view(lse.data(), DType::kFloat32, {c.batch, c.h_q, c.s_q});
    return a;
  }

  void poison_outputs() {
    std::fill(out.begin(), out.end(), kOutSentinel);
    std::fill(lse.begin(), lse.end(), kLseSentinel);
  }
  bool out_untouched() const {
    return std::all_of(out.begin(), out.end(), [](uint16_t v) { return v == kOutSentinel; });
  }
  bool lse_untouched() const {
    // Compared bitwise: the sentinel is an ordinary float, but NaN written over it must count.
    return std::all_of(lse.begin(), lse.end(),
                       [](float v) { return std::memcmp(&v, &kLseSentinel, sizeof(float)) == 0; });
  }
  bool lse_fully_written() const {
    return std::none_of(lse.begin(), lse.end(),
                        [](float v) { return std::memcmp(&v, &kLseSentinel, sizeof(float)) == 0; });
  }

  std::vector<uint16_t> q, k_cache, out;
  std::vector<int32_t> block_table, seqlens, metadata, num_splits;
  std::vector<float> lse;

 private:
  static TensorView view(void* data, DType dtype, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(data, dtype, Device{}, shape);
  }
  ProblemConfig config_;
};

}  // namespace validation_test
}  // namespace flashmla
