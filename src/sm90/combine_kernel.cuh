// The combine kernel: merges the float32 partial results of a sequence's splits with log-sum-exp
// weights. Sequences that fit one split were written directly by the decode kernel and are skipped.
//
// Two ways to spread the work over warps (kWarpsPerRow, chosen per launch by combine_warps_per_row):
// - 1: one warp per row, walking all of the row's splits with the whole row's 512 columns (four
//   float4 per lane). Full batches have many rows and few splits per sequence (two, mostly): a
//   warp's loads are one round trip, and the row's log-sum-exp is worked out once.
// - 8: eight warps per row and 128-column part (one float4 per lane), each walking every eighth
//   split, their sums then added in shared memory. Small batches have few rows and many splits
//   (b = 1 with 128 rows: 66), and one warp per row would leave most SMs idle while each warp
//   walks every split.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "flashmla/constants.h"
#include "sm90/combine_plan.h"
#include "sm90/decode_params.h"
#include "sm90/ptx_primitives.cuh"

namespace flashmla {
namespace sm90 {

// Splits whose loads one warp has in flight at once: four of one float4 per lane, two of four
// (whole rows: 8 float4 per batch; the kernel then takes 80 registers, three blocks per SM).
__host__ __device__ constexpr int combine_unroll(int vecs) { return vecs == 1 ? 4 : 2; }

__device__ __forceinline__ void add_scaled(float4& acc, float w, const float4& x) {
  acc.x += w * x.x;
  acc.y += w * x.y;
  acc.z += w * x.z;
  acc.w += w * x.w;
}

// Grid: (b, h_kv, ceil(q_rows / rows per block) * combine_column_parts(kWarpsPerRow)).
// Launched as a programmatic dependent of the decode kernel (decode_launch.cuh): its blocks may
// start before the decode's last blocks have finished, and wait here for the partial results.
template <typename T, int kWarpsPerRow>
__global__ void __launch_bounds__(kCombineThreads) mla_combine_kernel(const DecodeParams p) {
  static_assert(kWarpsPerRow == 1 || kWarpsPerRow == kCombineWarps, "one warp or the whole block per row");
  constexpr int kRows = combine_rows_per_block(kWarpsPerRow);
  constexpr int kParts = combine_column_parts(kWarpsPerRow);
  constexpr int kVecs = kHeadDimV / 4 / 32 / kParts;  // float4 per lane and split
  constexpr int kCombineUnroll = combine_unroll(kVecs);
  grid_dependency_wait();
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int seq = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int q_row = (blockIdx.z / kParts) * kRows + warp / kWarpsPerRow;
  const int phase = warp % kWarpsPerRow;  // this warp's splits: phase, phase + kWarpsPerRow, ...
  const int col_part = blockIdx.z % kParts;
  const int first_slot = p.num_splits[seq];
  const int splits = p.num_splits[seq + 1] - first_slot;
  // Uniform over the block when kWarpsPerRow > 1 (one row), so the barrier below is reached by all.
  if (splits <= 1 || q_row >= p.q_rows) return;

  const int64_t slot_stride = static_cast<int64_t>(p.h_kv) * p.q_rows;  // rows per split slot
  const int64_t row0 = split_slot_row(p, first_slot, kv_head, q_row);
  // Column of this lane's float4 v: 128 columns apart, as a warp's 32 lanes cover 128.
  const int col0 = col_part * (kHeadDimV / kParts) + lane * 4;
  auto load_split = [&](int s, float4* x) {
    const float* src = p.o_accum + (row0 + s * slot_stride) * kHeadDimV + col0;
#pragma unroll
    for (int v = 0; v < kVecs; ++v) x[v] = *reinterpret_cast<const float4*>(src + v * 128);
  };
  // The warp's first splits' partial rows are loaded before the log-sum-exp is known, together with
  // the lse values, so that most rows (two or three splits) cost one memory round trip, not two.
  float4 first[kCombineUnroll][kVecs];
#pragma unroll
  for (int u = 0; u < kCombineUnroll; ++u)
    if (phase + u * kWarpsPerRow < splits) load_split(phase + u * kWarpsPerRow, first[u]);
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

  float4 acc[kVecs];
#pragma unroll
  for (int v = 0; v < kVecs; ++v) acc[v] = make_float4(0.f, 0.f, 0.f, 0.f);
  if (!empty) {
#pragma unroll
    for (int u = 0; u < kCombineUnroll; ++u) {
      const int s = phase + u * kWarpsPerRow;
      if (s < splits) {
        const float w = expf(p.lse_accum[row0 + s * slot_stride] - lse);
#pragma unroll
        for (int v = 0; v < kVecs; ++v) add_scaled(acc[v], w, first[u][v]);
      }
    }
    int s = phase + kCombineUnroll * kWarpsPerRow;
    // Several splits' loads are issued before any is used: the loop is bound by memory latency.
    for (; s + (kCombineUnroll - 1) * kWarpsPerRow < splits; s += kCombineUnroll * kWarpsPerRow) {
      float w[kCombineUnroll];
      float4 x[kCombineUnroll][kVecs];
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u) {
        w[u] = p.lse_accum[row0 + (s + u * kWarpsPerRow) * slot_stride];
        load_split(s + u * kWarpsPerRow, x[u]);
      }
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u) {
        const float wu = expf(w[u] - lse);
#pragma unroll
        for (int v = 0; v < kVecs; ++v) add_scaled(acc[v], wu, x[u][v]);
      }
    }
    for (; s < splits; s += kWarpsPerRow) {
      float4 x[kVecs];
      load_split(s, x);
      const float w = expf(p.lse_accum[row0 + s * slot_stride] - lse);
#pragma unroll
      for (int v = 0; v < kVecs; ++v) add_scaled(acc[v], w, x[v]);
    }
  }
  if constexpr (kWarpsPerRow > 1) {
    static_assert(kVecs == 1, "the block's sum holds one float4 per lane");
    __shared__ float4 partial[kCombineWarps][32];
    partial[warp][lane] = acc[0];
    __syncthreads();
    if (warp != 0) return;
#pragma unroll
    for (int w = 1; w < kCombineWarps; ++w) add_scaled(acc[0], 1.f, partial[w][lane]);
  }
  const int token = token_of_row(p, q_row);
  const int head = head_of_row(p, kv_head, q_row);
  T* out = static_cast<T*>(p.out) + out_row_offset(p, seq, token, head) + col0;
#pragma unroll
  for (int v = 0; v < kVecs; ++v)
    *reinterpret_cast<uint2*>(out + v * 128) = make_uint2(ElementTraits<T>::pack(acc[v].x, acc[v].y),
                                                         ElementTraits<T>::pack(acc[v].z, acc[v].w));
  if (col_part == 0 && lane == 0 && phase == 0) p.lse[lse_offset(p, seq, token, head)] = lse;
}

}  // namespace sm90
}  // namespace flashmla
