// Named constants of the MLA decoding problem and of this library's schedule.
#pragma once

#include <cstdint>

namespace flashmla {

// Width of a key (and of a query): 512 latent columns followed by 64 rotary columns.
constexpr int kHeadDimK = 576;
// Width of a value: the first 512 columns of the key row, stored once.
constexpr int kHeadDimV = 512;
// Tokens per KV-cache page. The only page size the kernels support.
constexpr int kPageSize = 64;
// Query rows (s_q * h_q / h_kv, per kv head) one GPU thread block owns at most.
constexpr int kBlockRows = 64;
// Scheduler cost, in pages, charged for every (sequence, split) a part handles: it models the
// fixed work of starting a sequence (loading Q, the epilogue, the combine).
constexpr int kFixedOverheadPages = 5;
// Columns of one tile-scheduler metadata row (see scheduler.h for their meaning).
constexpr int kMetadataFields = 8;
// Largest number of query tokens per sequence (speculative decoding) the library accepts.
constexpr int kMaxQueryTokens = 8;
// Largest h_q the library accepts (DeepSeek uses at most 128 per device).
constexpr int kMaxQueryHeads = 128;

}  // namespace flashmla
