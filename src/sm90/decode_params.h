// Arguments of the decode and combine kernels, resolved on the host from a validated call.
#pragma once

#include <cstdint>

#include "core/hostdevice.h"
#include "flashmla/constants.h"

namespace flashmla {
namespace sm90 {

struct DecodeParams {
  const void* q;            // [b, s_q, h_q, 576]
  int64_t q_stride_batch;   // strides in elements
  int64_t q_stride_token;
  int64_t q_stride_head;
  const void* k_cache;      // [num_blocks, 64, h_kv, 576]
  int64_t k_stride_page;
  int64_t k_stride_token;
  int64_t k_stride_head;
  const int32_t* block_table;
  int64_t block_table_stride;  // elements between sequences
  const int32_t* seqlens;
  const int32_t* metadata;     // [num_sm_parts, 8]
  const int32_t* num_splits;   // [b + 1]
  void* out;                   // [b, s_q, h_q, 512], contiguous
  float* lse;                  // [b, h_q, s_q], contiguous
  float* o_accum;              // workspace: [max_splits, h_kv, q_rows, 512]
  float* lse_accum;            // workspace: [max_splits, h_kv, q_rows]
  int64_t batch;
  int s_q;
  int h_q;
  int h_kv;
  int ngroups;                 // h_q / h_kv
  int q_rows;                  // s_q * ngroups
  float scale_log2;            // softmax_scale * log2(e): scores are kept in base 2
  bool causal;
  // Seesaw kernel: the producer prefetches each page into L2 while it waits for the page's buffer
  // (seesaw_producer.cuh).
  bool l2_prefetch;
};

// Query row q_row (0 <= q_row < q_rows) of kv head kv_head: rows are (token, head-in-group)
// pairs, token-major, so a kv head's ngroups heads of one token are consecutive rows.
FLASHMLA_HD inline int token_of_row(const DecodeParams& p, int q_row) { return q_row / p.ngroups; }
FLASHMLA_HD inline int head_of_row(const DecodeParams& p, int kv_head, int q_row) {
  return kv_head * p.ngroups + q_row % p.ngroups;
}

// Element offsets of a (sequence, token, head)'s output row in `out` and its entry in `lse`.
FLASHMLA_HD inline int64_t out_row_offset(const DecodeParams& p, int64_t seq, int token, int head) {
  return ((seq * p.s_q + token) * p.h_q + head) * kHeadDimV;
}
FLASHMLA_HD inline int64_t lse_offset(const DecodeParams& p, int64_t seq, int token, int head) {
  return (seq * p.h_q + head) * p.s_q + token;
}

// Row of split slot `slot`, kv head and query row in the workspace (o_accum rows, lse_accum).
FLASHMLA_HD inline int64_t split_slot_row(const DecodeParams& p, int slot, int kv_head, int q_row) {
  return (static_cast<int64_t>(slot) * p.h_kv + kv_head) * p.q_rows + q_row;
}

#ifdef __CUDACC__
// Natural-log sum-exp of a row whose scores were kept in base 2 (scaled by log2(e)), from its
// running maximum and sum. A row with no visible key gets +inf where its output is final and -inf
// in a partial result (weight 0 in the combine).
__device__ __forceinline__ float row_lse(float max_log2, float total, bool single_split) {
  return total > 0.f ? (max_log2 + __log2f(total)) * 0.69314718055994531f
                     : (single_split ? INFINITY : -INFINITY);
}
#endif

}  // namespace sm90
}  // namespace flashmla
