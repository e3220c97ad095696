// How the combine kernel (combine_kernel.cuh) spreads a launch over blocks and warps; host and
// device code both use it.
#pragma once

#include <cstdint>

namespace flashmla {
namespace sm90 {

constexpr int kCombineWarps = 16;  // per block
constexpr int kCombineThreads = kCombineWarps * 32;
constexpr int kCombineColumnParts = 4;  // of a row's 512 columns, 128 each: one float4 per lane

// Query rows of one block with warps_per_row warps on each row and column part.
__host__ __device__ constexpr int combine_rows_per_block(int warps_per_row) { return kCombineWarps / warps_per_row; }

// kCombineWarps warps per row where one warp per row and column part would give the SMs fewer
// than 16 warps each: small batches, whose rows are few and whose sequences have many splits.
inline int combine_warps_per_row(int64_t batch, int h_kv, int q_rows, int sm_count) {
  const int64_t warps = batch * h_kv * q_rows * kCombineColumnParts;
  return warps < 16 * static_cast<int64_t>(sm_count) ? kCombineWarps : 1;
}

}  // namespace sm90
}  // namespace flashmla
