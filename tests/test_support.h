// Helpers shared by the CPU and GPU tests: random decode problems built on the host the way the
// design asks (random page permutations, NaN in every slot that must not be read), error measures,
// and a run of the public API on the CPU with poisoned outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/flashmla.h"

namespace flashmla {
namespace test {

struct ProblemSpec {
  int64_t b = 1;
  int s_q = 1;
  int h_q = 16;
  int h_kv = 1;
  // Lengths used as given when non-empty (size b); otherwise drawn from s_k / varlen below.
  std::vector<int32_t> seqlens;
  int s_k = 256;
  // Lengths ~ normal(s_k, s_k / 4), clamped to [min_len, 2 * s_k]; else every length is s_k.
  bool varlen = false;
  // Smallest drawn length; -1 means s_q (a causal row then always sees a key).
  int min_len = -1;
  DType dtype = DType::kBFloat16;
  bool causal = false;
  float softmax_scale = 0.0f;  // 0: default
  uint64_t seed = 1;
  // Pages in k_cache beyond the ones the sequences use (filled with NaN).
  int spare_pages = 3;
  // block_table columns beyond the longest sequence's pages (filled with garbage).
  int extra_table_columns = 1;
  // Element padding added to the strides (the last dim stays contiguous): q's head stride,
  // k_cache's token stride, block_table's row stride. For tests of strided views.
  int q_head_pad = 0;
  int k_token_pad = 0;
  int table_row_pad = 0;
};

// A decode problem in host memory. Views over copies of these buffers on another device keep the
// same strides (pass the device pointer to the *_view functions).
struct DecodeProblem {
  ProblemSpec spec;
  std::vector<int32_t> seqlens;
  int64_t num_blocks = 0;
  int64_t max_blocks = 0;  // block_table columns
  std::vector<uint16_t> q;
  std::vector<uint16_t> k_cache;
  std::vector<int32_t> block_table;
  int64_t q_stride[4] = {0, 0, 0, 1};
  int64_t k_stride[4] = {0, 0, 0, 1};
  int64_t table_stride[2] = {0, 1};

  int q_rows() const { return spec.s_q * (spec.h_q / spec.h_kv); }
  int64_t total_tokens() const;

  // data == nullptr: this problem's own host buffer.
  TensorView q_view(void* data = nullptr, Device device = {}) const;
  TensorView k_cache_view(void* data = nullptr, Device device = {}) const;
  TensorView block_table_view(void* data = nullptr, Device device = {}) const;
  TensorView seqlens_view(void* data = nullptr, Device device = {}) const;
  // Contiguous output shapes: out [b, s_q, h_q, 512] (dtype of q), lse [b, h_q, s_q] float32.
  int64_t out_numel() const { return spec.b * spec.s_q * spec.h_q * kHeadDimV; }
  int64_t lse_numel() const { return spec.b * spec.h_q * spec.s_q; }
};

DecodeProblem make_problem(const ProblemSpec& spec);

// Widens 16-bit values (bf16 / fp16 bit patterns) to double.
std::vector<double> widen(const std::vector<uint16_t>& bits, DType dtype);
std::vector<double> widen(const std::vector<float>& values);

// ||a - b|| / ||b|| (or ||a - b|| when b is all zero); +inf if either holds a NaN or the sizes
// differ.
double rel_error(const std::vector<double>& a, const std::vector<double>& b);
// rel_error over the finite entries of reference lse; +inf unless every +inf (row with no key) of
// `ref` is +inf in `got` and vice versa, or on any NaN.
double lse_rel_error(const std::vector<double>& got, const std::vector<double>& ref);

struct CpuRun {
  Status status;
  std::vector<int32_t> metadata;    // [num_sm_parts, 8]
  std::vector<int32_t> num_splits;  // [b + 1]
  std::vector<uint16_t> out;        // [b, s_q, h_q, 512]
  std::vector<float> lse;           // [b, h_q, s_q]
  // Elements still NaN after the call (outputs are poisoned with NaN before it).
  int64_t unwritten_out = 0;
  int64_t unwritten_lse = 0;
};

// get_mla_metadata + mla_decode_with_kvcache through the public API on the CPU. With
// caller_workspace the decode gets a NaN-filled workspace of decode_workspace_size() bytes;
// otherwise the library allocates its own.
CpuRun run_cpu(const DecodeProblem& problem, int num_sm_parts, bool caller_workspace = false);

// Units in the last place between two bf16 or fp16 values (neither NaN): the distance of their bit
// patterns on the monotone integer line, so +0 and -0 are 0 apart.
int ulp_distance(uint16_t a, uint16_t b);

}  // namespace test
}  // namespace flashmla
