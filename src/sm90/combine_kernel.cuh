// The combine kernel: merges the float32 partial results of a sequence's splits with log-sum-exp
// weights. One warp per query row and quarter of its columns; sequences that fit one split were
// written directly by the decode kernel and are skipped.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "flashmla/constants.h"
#include "sm90/decode_params.h"
#include "sm90/ptx_primitives.cuh"

namespace flashmla {
namespace sm90 {

constexpr int kCombineRowsPerBlock = 8;  // one warp per row and column part
constexpr int kCombineThreads = kCombineRowsPerBlock * 32;
// Each row's 512 columns are merged by 4 blocks (one float4 per lane): a batch of one long
// sequence has few rows and many splits, and needs the parallelism.
constexpr int kCombineColumnParts = 4;
constexpr int kCombineUnroll = 4;  // splits whose loads are in flight at once

__device__ __forceinline__ void add_scaled(float4& acc, float w, const float4& x) {
  acc.x += w * x.x;
  acc.y += w * x.y;
  acc.z += w * x.z;
  acc.w += w * x.w;
}

// Grid: (b, h_kv, ceil(q_rows / 8) * kCombineColumnParts).
// Launched as a programmatic dependent of the decode kernel (decode_launch.cuh): its blocks may
// start before the decode's last blocks have finished, and wait here for the partial results.
template <typename T>
__global__ void __launch_bounds__(kCombineThreads) mla_combine_kernel(const DecodeParams p) {
  grid_dependency_wait();
  const int seq = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int q_row = (blockIdx.z / kCombineColumnParts) * kCombineRowsPerBlock + threadIdx.x / 32;
  const int col_part = blockIdx.z % kCombineColumnParts;
  const int lane = threadIdx.x % 32;
  const int first_slot = p.num_splits[seq];
  const int splits = p.num_splits[seq + 1] - first_slot;
  if (splits <= 1 || q_row >= p.q_rows) return;

  const int64_t slot_stride = static_cast<int64_t>(p.h_kv) * p.q_rows;  // rows per split slot
  const int64_t row0 = split_slot_row(p, first_slot, kv_head, q_row);
  const int col = col_part * (kHeadDimV / kCombineColumnParts) + lane * 4;
  auto o_of = [&](int s) {
    return *reinterpret_cast<const float4*>(p.o_accum + (row0 + s * slot_stride) * kHeadDimV + col);
  };
  // The first splits' partial rows are loaded before the log-sum-exp is known, together with the
  // lse values, so that most rows (two or three splits) cost one memory round trip, not two.
  float4 first[kCombineUnroll];
#pragma unroll
  for (int u = 0; u < kCombineUnroll; ++u)
    if (u < splits) first[u] = o_of(u);
  float max_lse = -INFINITY;
  for (int s = lane; s < splits; s += 32) max_lse = fmaxf(max_lse, p.lse_accum[row0 + s * slot_stride]);
#pragma unroll
  for (int d = 16; d > 0; d /= 2) max_lse = fmaxf(max_lse, __shfl_xor_sync(0xffffffffu, max_lse, d));
  float sum = 0.f;
  if (max_lse != -INFINITY)
    for (int s = lane; s < splits; s += 32) sum += expf(p.lse_accum[row0 + s * slot_stride] - max_lse);
#pragma unroll
  for (int d = 16; d > 0; d /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, d);
  // No split saw a key: the row is empty (out = 0, lse = +inf).
  const bool empty = max_lse == -INFINITY;
  const float lse = empty ? INFINITY : max_lse + logf(sum);

  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  if (!empty) {
#pragma unroll
    for (int u = 0; u < kCombineUnroll; ++u)
      if (u < splits) add_scaled(acc, expf(p.lse_accum[row0 + u * slot_stride] - lse), first[u]);
    int s = kCombineUnroll;
    // Several splits' loads are issued before any is used: the loop is bound by memory latency.
    for (; s + kCombineUnroll <= splits; s += kCombineUnroll) {
      float w[kCombineUnroll];
      float4 x[kCombineUnroll];
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u) {
        w[u] = p.lse_accum[row0 + (s + u) * slot_stride];
        x[u] = o_of(s + u);
      }
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u) add_scaled(acc, expf(w[u] - lse), x[u]);
    }
    for (; s < splits; ++s) add_scaled(acc, expf(p.lse_accum[row0 + s * slot_stride] - lse), o_of(s));
  }
  const int token = token_of_row(p, q_row);
  const int head = head_of_row(p, kv_head, q_row);
  T* out = static_cast<T*>(p.out) + out_row_offset(p, seq, token, head);
  *reinterpret_cast<uint2*>(out + col) = make_uint2(ElementTraits<T>::pack(acc.x, acc.y),
                                                   ElementTraits<T>::pack(acc.z, acc.w));
  if (col_part == 0 && lane == 0) p.lse[lse_offset(p, seq, token, head)] = lse;
}

}  // namespace sm90
}  // namespace flashmla
