// The combine kernel: merges the float32 partial results of a sequence's splits with log-sum-exp
// weights. One warp per query row; sequences that fit one split were written directly by the decode
// kernel and are skipped.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "flashmla/constants.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {

constexpr int kCombineRowsPerBlock = 8;  // one warp per row
constexpr int kCombineThreads = kCombineRowsPerBlock * 32;

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

// Grid: (b, h_kv, ceil(q_rows / 8)).
template <typename T>
__global__ void __launch_bounds__(kCombineThreads) mla_combine_kernel(const DecodeParams p) {
  const int seq = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int q_row = blockIdx.z * kCombineRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int first_slot = p.num_splits[seq];
  const int splits = p.num_splits[seq + 1] - first_slot;
  if (splits <= 1 || q_row >= p.q_rows) return;

  const int64_t slot_stride = static_cast<int64_t>(p.h_kv) * p.q_rows;  // rows per split slot
  const int64_t row0 = (static_cast<int64_t>(first_slot) * p.h_kv + kv_head) * p.q_rows + q_row;
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

  constexpr int kColsPerLane = kHeadDimV / 32;  // 16, as four float4
  float acc[kColsPerLane];
#pragma unroll
  for (int c = 0; c < kColsPerLane; ++c) acc[c] = 0.f;
  if (!empty) {
    for (int s = 0; s < splits; ++s) {
      const int64_t row = row0 + s * slot_stride;
      const float w = expf(p.lse_accum[row] - lse);
      const float4* src = reinterpret_cast<const float4*>(p.o_accum + row * kHeadDimV);
#pragma unroll
      for (int v = 0; v < kColsPerLane / 4; ++v) {
        const float4 x = src[v * 32 + lane];
        acc[4 * v + 0] += w * x.x;
        acc[4 * v + 1] += w * x.y;
        acc[4 * v + 2] += w * x.z;
        acc[4 * v + 3] += w * x.w;
      }
    }
  }
  const int token = q_row / p.ngroups;
  const int head = kv_head * p.ngroups + q_row % p.ngroups;
  T* out = static_cast<T*>(p.out) + ((static_cast<int64_t>(seq) * p.s_q + token) * p.h_q + head) * kHeadDimV;
#pragma unroll
  for (int v = 0; v < kColsPerLane / 4; ++v) {
    const int col = (v * 32 + lane) * 4;
#pragma unroll
    for (int e = 0; e < 4; ++e) out[col + e] = from_float<T>(acc[4 * v + e]);
  }
  if (lane == 0) p.lse[(static_cast<int64_t>(seq) * p.h_q + head) * p.s_q + token] = lse;
}

}  // namespace sm90
}  // namespace flashmla
