// How the combine kernel (combine_kernel.cuh) spreads a launch over blocks and warps; host and
// device code both use it.
#pragma once

#include <cstdint>

namespace flashmla {
namespace sm90 {

constexpr int kCombineWarps = 8;  // per block
constexpr int kCombineThreads = kCombineWarps * 32;
constexpr int kCombineColumnParts = 4;  // of a row's 512 columns, 128 each: one float4 per lane

// Query rows of one block with warps_per_row warps on each row and column part.
__host__ __device__ constexpr int combine_rows_per_block(int warps_per_row) { return kCombineWarps / warps_per_row; }

// Parts a row's 512 columns are split into, one block's warps per part: kCombineColumnParts with
// eight warps per row (small batches: more blocks for few rows); 1 with one warp per row (full
// batches: a warp takes the whole row, four float4 per lane, so that the row's log-sum-exp is
// worked out once instead of once per part; bench/NOTES.md step 37).
__host__ __device__ constexpr int combine_column_parts(int warps_per_row) {
  return warps_per_row == 1 ? 1 : kCombineColumnParts;
}

// kCombineWarps warps per row where one warp per row and 128-column part would not give every SM
// several blocks: small batches, whose rows are few and whose sequences have many splits. (The
// threshold was measured in those units, step 28; one warp per row now takes the whole row, a
// quarter of those blocks, which measured faster on every full-batch row, step 37.)
inline int combine_warps_per_row(int64_t batch, int h_kv, int q_rows, int sm_count) {
  const int64_t blocks = batch * h_kv * ((q_rows + kCombineWarps - 1) / kCombineWarps) * kCombineColumnParts;
  return blocks < 4 * static_cast<int64_t>(sm_count) ? kCombineWarps : 1;
}

}  // namespace sm90
}  // namespace flashmla
