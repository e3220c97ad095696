// The seesaw kernel's epilogue for one sequence piece: the two warpgroups add up their shares of
// the row sums (sum_row_sums), then each normalises and stores its 256 columns of O: the final
// output and lse when the sequence is in one split, else a float32 partial result for the combine
// kernel.
#pragma once

#include <cmath>

#include "sm90/mbarrier.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Both warpgroups add up their shares of each row's sum: total[r] is the whole sum of P over the
// piece for row row0 + 8 r. Every math thread calls it; on return both warpgroups are past their
// last S of the piece (each waited for it before its last P V), so Q may be overwritten.
__device__ __forceinline__ void sum_row_sums(float* row_sum, float* s_row_sum, int wg, int row0,
                                             int lane, float* total) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
    if ((lane & 3) == 0) s_row_sum[wg * kRows + row0 + 8 * r] = row_sum[r];
  }
  named_barrier_sync(kBarMath, kMathThreads);
#pragma unroll
  for (int r = 0; r < 2; ++r) total[r] = s_row_sum[row0 + 8 * r] + s_row_sum[kRows + row0 + 8 * r];
  // The next piece's epilogue rewrites s_row_sum: everyone has read it first.
  named_barrier_sync(kBarMath, kMathThreads);
}

// o: this thread's 128 accumulators (columns 256 wg + 8 t + 2 (lane % 4) + {0, 1} of rows row0
// and row0 + 8 for t = 0..31); total: the row sums (sum_row_sums); max: the final running maxima.
template <typename T>
__device__ __forceinline__ void store_piece(const DecodeParams& p, const Piece& piece, int kv_head,
                                            int row_base, const float* o, const float* total,
                                            const float* max, int wg, int row0, int lane) {
  using Traits = ElementTraits<T>;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int q_row = row_base + row0 + 8 * r;
    if (q_row >= p.q_rows) continue;
    const float inv = total[r] > 0.f ? 1.f / total[r] : 0.f;
    const float lse = row_lse(max[r], total[r], piece.single_split);
    const int token = token_of_row(p, q_row);
    const int head = head_of_row(p, kv_head, q_row);
    const int col0 = wg * (kHeadDimV / kMathWarpgroups) + 2 * (lane & 3);
    if (piece.single_split) {
      T* out = static_cast<T*>(p.out) + out_row_offset(p, piece.seq, token, head);
#pragma unroll
      for (int t = 0; t < 32; ++t)
        *reinterpret_cast<uint32_t*>(out + col0 + 8 * t) =
            Traits::pack(o[4 * t + 2 * r] * inv, o[4 * t + 2 * r + 1] * inv);
      if (wg == 0 && (lane & 3) == 0)
        p.lse[lse_offset(p, piece.seq, token, head)] = lse;
    } else {
      const int64_t slot_row = split_slot_row(p, piece.first_slot + piece.split, kv_head, q_row);
      float* acc = p.o_accum + slot_row * kHeadDimV;
#pragma unroll
      for (int t = 0; t < 32; ++t)
        *reinterpret_cast<float2*>(acc + col0 + 8 * t) =
            make_float2(o[4 * t + 2 * r] * inv, o[4 * t + 2 * r + 1] * inv);
      if (wg == 0 && (lane & 3) == 0) p.lse_accum[slot_row] = lse;
    }
  }
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
