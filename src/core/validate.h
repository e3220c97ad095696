// Validation of every public entry point. Checks shapes, dtypes, strides, devices and arguments
// (never reads device memory). Messages name the argument, the expected and the actual value.
#pragma once

#include "core/decode_shape.h"
#include "flashmla/flashmla.h"

namespace flashmla {

// Checks MetadataArgs. expected_parts > 0 requires tile_scheduler_metadata.shape[0] == expected_parts
// (the CUDA path); expected_parts <= 0 accepts any count >= 1 (the CPU path).
Status validate_metadata_args(const MetadataArgs& args, int expected_parts);

// Checks DecodeArgs and fills `shape`. expected_parts as above. When the tensors are on the host it
// also checks the data: cache_seqlens within [0, 64 * max_blocks_per_seq], used block_table entries
// within [0, num_blocks), and that the metadata was planned for this batch, row count and h_kv and
// is consistent with num_splits. Checks the workspace size when workspace is non-null.
Status validate_decode_args(const DecodeArgs& args, int expected_parts, DecodeShape* shape);

// Checks host copies of a plan (tile_scheduler_metadata [parts][8], num_splits [batch + 1])
// against the cache_seqlens [batch] it is used with: num_splits well formed, and the parts covering
// every page of every sequence once, in order, with the split counts num_splits gives. A plan made
// for other lengths of the same shape fails here. The lengths must already be known valid (>= 0).
// validate_decode_args runs it for host tensors; the GPU's input-checking mode on copies.
Status check_plan_against_lengths(const int32_t* metadata, int parts, const int32_t* splits,
                                  const int32_t* lens, int64_t batch);

}  // namespace flashmla
