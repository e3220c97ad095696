// The benchmark's problem: a shape, the sequence lengths it implies, and host buffers with random
// inputs laid out exactly as the public API expects (q, paged KV cache, block table, seqlens).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flashmla/flashmla.h"

namespace bench {

struct ProblemSpec {
  int64_t b = 4;
  int s_q = 1;
  int s_k = 1024;  // every length when fixed; the mean when varlen
  int h_q = 16;
  int h_kv = 1;
  flashmla::DType dtype = flashmla::DType::kBFloat16;
  bool varlen = false;
  bool causal = false;
  std::vector<int32_t> seqlens;  // explicit lengths (size b); when set, s_k and varlen are labels
  uint64_t seed = 1;

  int q_rows_per_kv_head() const { return s_q * (h_q / h_kv); }
  // "bf16 b=4 s_q=1 s_k=1024 h_q=16 h_kv=1 fixed".
  std::string describe() const;
};

// "bf16" / "fp16" (the benchmark's short names; the library's dtype_name() is longer).
const char* short_dtype_name(flashmla::DType dtype);

// The sequence lengths of a spec: the explicit list, else s_k for all, else (varlen) normal
// around s_k with standard deviation s_k / 4, at least s_q, from the spec's seed.
std::vector<int32_t> make_seqlens(const ProblemSpec& spec);

// An uninitialised host array: the caches reach gigabytes, and zero-filling them first would
// cost as much as generating them.
template <typename T>
struct HostArray {
  std::unique_ptr<T[]> data;
  int64_t size = 0;

  void allocate(int64_t n) {
    data.reset(new T[static_cast<size_t>(n)]);
    size = n;
  }
  T* get() const { return data.get(); }
  int64_t bytes() const { return size * static_cast<int64_t>(sizeof(T)); }
};

struct HostProblem {
  ProblemSpec spec;
  std::vector<int32_t> seqlens;  // [b]
  int64_t num_blocks = 0;        // pages in k_cache: exactly the pages the sequences use
  int64_t max_blocks_per_seq = 0;
  HostArray<uint16_t> q;             // [b, s_q, h_q, 576]
  HostArray<uint16_t> k_cache;       // [num_blocks, 64, h_kv, 576]
  std::vector<int32_t> block_table;  // [b, max_blocks_per_seq]; unused entries 0

  int64_t total_kv_tokens() const;
  int64_t out_elems() const { return spec.b * spec.s_q * spec.h_q * flashmla::kHeadDimV; }
  int64_t lse_elems() const { return spec.b * spec.h_q * spec.s_q; }
  int64_t page_elems() const {
    return static_cast<int64_t>(flashmla::kPageSize) * spec.h_kv * flashmla::kHeadDimK;
  }
};

// Random q and cache (about standard normal, so scores have unit variance at the default scale),
// pages handed out as one random permutation, and every cache slot past a sequence's length set to
// NaN so that reading one shows in the result. Uses all hardware threads for big caches.
HostProblem generate_problem(const ProblemSpec& spec);

// Fills n values of a 16-bit dtype with about standard normal numbers, reproducibly from `seed`
// whatever the thread count.
void fill_random_half(uint16_t* data, int64_t n, flashmla::DType dtype, uint64_t seed);

// A smaller problem made of some sequences of `src`, with their own compact cache and block table.
// Attention is independent per sequence, so its result must match those sequences' rows of the
// full problem; that is how big configurations are checked on the CPU quickly.
HostProblem extract_sequences(const HostProblem& src, const std::vector<int64_t>& seqs);

}  // namespace bench
