// The sizes of one validated decode call, derived once by validation and passed to the backends.
#pragma once

#include <cstdint>

#include "flashmla/flashmla.h"

namespace flashmla {

struct DecodeShape {
  int64_t batch = 0;             // b
  int s_q = 0;                   // query tokens per sequence
  int h_q = 0;                   // query heads
  int h_kv = 0;                  // kv heads
  int ngroups = 0;               // h_q / h_kv: query heads sharing one kv head
  int q_rows = 0;                // s_q * ngroups: query rows per kv head; row r is token r / ngroups,
                                 // head kv_head * ngroups + r % ngroups
  int64_t num_blocks = 0;        // pages in k_cache
  int64_t max_blocks_per_seq = 0;
  int num_sm_parts = 0;          // rows of tile_scheduler_metadata
  DType dtype = DType::kBFloat16;
  float softmax_scale = 0.0f;    // resolved (never 0)
  bool causal = false;
};

}  // namespace flashmla
