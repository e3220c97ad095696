// The narrow decode kernel: 16 or 32 query rows per math warpgroup on warpgroup MMA, scores
// transposed (narrow_layout.cuh says why and how shared memory is laid out). The default for up to
// 64 rows per kv head (decode_launch.h, wants_narrow): one math warpgroup for up to 32 rows, two
// of 32 rows each (kG = 2) for 33-64, both reading every slab of the one ring.
//
// A math warpgroup does every page for its rows: S^T = K Q^T (36 wgmma.m64nNk16, each slab's four
// as soon as it lands), the online softmax along the tokens (M, spread over the four warps: the
// row maxima meet in shared memory), P^T to shared memory, then O^T = O^T * rescale + V^T P^T (32
// wgmma.m64nNk16 with A = V read MN-major, O^T in 8 column blocks of 64). A producer warp
// streams the slabs through the ring (narrow_producer.cuh); a slot is free again once every math
// warp has released it: the RoPE slab after S, the value slabs after P V, before S of the next
// page is issued (the issue waits for that page's slabs).
//
// Accumulator layout of wgmma m64nN (per thread, N / 2 floats): d[4 t + e] is token (M) row
// 16 warp + lane / 4 + 8 (e / 2), query row (N) 8 t + 2 (lane % 4) + e % 2, for t < N / 8. A
// thread thus sees kN / 4 query rows, indexed nl = 2 t + e % 2 below.
//
// Cache slots past a sequence's length may hold anything, NaN included: S masks them with a
// select, and the value slabs' rows past the length are zeroed before P V reads them.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "sm90/decode_params.h"
#include "sm90/mbarrier.cuh"
#include "sm90/narrow_layout.cuh"
#include "sm90/narrow_producer.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"
#include "sm90/wgmma.cuh"

namespace flashmla {
namespace sm90 {
namespace narrow {

template <typename T>
__device__ __forceinline__ T to_element(float v) {
  if constexpr (std::is_same<T, __nv_bfloat16>::value) return __float2bfloat16_rn(v);
  else return __float2half_rn(v);
}

template <int kN, int kG>
struct MathContext {
  int warp;  // 0..3 within the math warpgroup
  int lane;
  int tid;   // 0..127 within the math warpgroup
  int bar;   // the warpgroup's named barrier
  uint32_t q_addr, p_addr, ring_addr, barriers;
  float* s_max;  // [2][warp][kN]: each warp's page maxima, alternating buffers by page parity
  float* s_sum;  // [warp][kN]: each warp's row sums, in the epilogue (over P^T: no P V in flight)

  __device__ uint32_t slot_addr(int slot) const { return ring_addr + slot * kSlabBytes; }
  __device__ uint32_t full(int slot) const { return barriers + (Layout<kN, kG>::kFullBarriers + slot) * 8; }
  __device__ uint32_t empty(int slot) const { return barriers + (Layout<kN, kG>::kEmptyBarriers + slot) * 8; }
  // Query row of this thread's local row nl, and token row of its half r.
  __device__ int row_of(int nl) const { return 8 * (nl >> 1) + 2 * (lane & 3) + (nl & 1); }
  __device__ int token_of(int r) const { return 16 * warp + (lane >> 2) + 8 * r; }
};

// One arrival of this warp on the empty barrier of each of `count` ring positions from `first`.
template <int kN, int kG>
__device__ __forceinline__ void release(const MathContext<kN, kG>& c, RingPos first, int count) {
  __syncwarp();
  if (c.lane == 0) {
    for (int i = 0; i < count; ++i) mbarrier_arrive(c.empty(first.advanced(i, Layout<kN, kG>::kRingSlabs).slot));
  }
}

// S^T = K Q^T for the page whose first ring position is `page`.
template <typename T, int kN, int kG>
__device__ __forceinline__ void issue_s(const MathContext<kN, kG>& c, float* s, RingPos page) {
  using L = Layout<kN, kG>;
  wgmma_fence();
#pragma unroll
  for (int i = 0; i < kSlabs; ++i) {
    const RingPos at = page.advanced(i, L::kRingSlabs);
    mbarrier_wait(c.full(at.slot), at.phase);
    const int slab = slab_of_position(i);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {  // k = 16 per step: 32 bytes along the 128-byte rows
      const uint64_t desc_k = kmajor_sw128_desc(c.slot_addr(at.slot) + kk * 32);
      const uint64_t desc_q = kmajor_sw128_desc(c.q_addr + slab * L::kQSlabBytes + kk * 32);
      wgmma_m64nk16<T, kN, false>(s, desc_k, desc_q, (i | kk) != 0 ? 1 : 0);
    }
  }
  wgmma_commit();
  wgmma_pin<kN / 2>(s);
}

// O^T += V^T P^T for the page at `page`: eight 64-column blocks, the page's 64 tokens in 4 steps.
template <typename T, int kN, int kG>
__device__ __forceinline__ void issue_pv(const MathContext<kN, kG>& c, float (*o)[kN / 2], RingPos page) {
  using L = Layout<kN, kG>;
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint64_t desc_p = kmajor_sw128_desc(c.p_addr + kk * 32);
#pragma unroll
    for (int v = 0; v < kValueSlabs; ++v) {
      const RingPos at = page.advanced(1 + v, L::kRingSlabs);  // value slab v sits at position 1 + v
      const uint64_t desc_v = mnmajor_sw128_desc(c.slot_addr(at.slot) + kk * 16 * 128, kSlabBytes);
      wgmma_m64nk16<T, kN, true>(o[v], desc_v, desc_p, 1);
    }
  }
  wgmma_commit();
#pragma unroll
  for (int v = 0; v < kValueSlabs; ++v) wgmma_pin<kN / 2>(o[v]);
}

// Zeroes token rows [valid, 64) of the page's value slabs (cache slots past the length may hold
// NaN, and 0 * NaN would reach O); the whole warpgroup calls it before its P barrier.
template <int kN, int kG>
__device__ __forceinline__ void zero_tail_rows(const MathContext<kN, kG>& c, RingPos page, int valid) {
  const int chunks_per_slab = (kPageSize - valid) * 8;
  for (int idx = c.tid; idx < chunks_per_slab * kValueSlabs; idx += kMathThreads) {
    const int v = idx / chunks_per_slab;
    const int rem = idx % chunks_per_slab;
    const RingPos at = page.advanced(1 + v, Layout<kN, kG>::kRingSlabs);
    const uint32_t addr = c.slot_addr(at.slot) + (valid + rem / 8) * 128 + (rem % 8) * 16;
    asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(addr), "r"(0) : "memory");
  }
}

// The online softmax of one page, in two steps. (S of the next page was once issued between them,
// to overlap the softmax: it measured no faster, bench/NOTES.md step 20.)
//
// Step 1: masks S^T, finds each query row's page maximum (within the warp by shuffles, across the
// four warps through shared memory), and rescales the running sums and O^T. Returns, in ref, the
// value each row's scores are taken relative to.
template <int kN, int kG>
__device__ __forceinline__ void softmax_rescale(const MathContext<kN, kG>& c, float* s, float (*o)[kN / 2],
                                                float* run_max, float* row_sum, float* ref, const int* limit,
                                                int first_key, int page_parity, float scale_log2) {
  constexpr int kLocalRows = kN / 4;
  float* my_max = c.s_max + page_parity * kMathWarps * kN;
  float page_max[kLocalRows];
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    float m = -INFINITY;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float& v = s[4 * (nl >> 1) + 2 * r + (nl & 1)];
      // A select, not arithmetic: scores of slots past the length may be NaN.
      v = first_key + c.token_of(r) < limit[nl] ? v * scale_log2 : -INFINITY;
      m = fmaxf(m, v);
    }
    // The other token rows of this query row: the lanes with the same lane % 4.
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 4));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 8));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 16));
    page_max[nl] = m;
  }
  if (c.lane < 4) {
#pragma unroll
    for (int nl = 0; nl < kLocalRows; ++nl) my_max[c.warp * kN + c.row_of(nl)] = page_max[nl];
  }
  named_barrier_sync(c.bar, kMathThreads);
  float rescale[kLocalRows];
  bool all_one = true;
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    const int n = c.row_of(nl);
    float m = my_max[n];
#pragma unroll
    for (int w = 1; w < kMathWarps; ++w) m = fmaxf(m, my_max[w * kN + n]);
    const float new_max = fmaxf(run_max[nl], m);
    // A row with no visible key yet keeps max -inf; subtracting 0 then keeps every term 0.
    ref[nl] = new_max == -INFINITY ? 0.f : new_max;
    rescale[nl] = fast_exp2(run_max[nl] - ref[nl]);
    all_one = all_one && rescale[nl] == 1.f;
    run_max[nl] = new_max;
    row_sum[nl] *= rescale[nl];
  }
  // Once the maxima have settled most pages change none of them: a warp whose factors are all
  // exactly 1 skips multiplying O^T, which would change no bit.
  if (__all_sync(0xffffffffu, all_one)) return;
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
#pragma unroll
    for (int v = 0; v < kValueSlabs; ++v) {
      o[v][4 * (nl >> 1) + (nl & 1)] *= rescale[nl];
      o[v][4 * (nl >> 1) + 2 + (nl & 1)] *= rescale[nl];
    }
  }
}

// Step 2: P = exp2(S - ref), added to the row sums and written as P^T for P V. Ends with the
// warpgroup barrier that makes P^T (and any zeroed value rows) visible to the tensor cores.
template <typename T, int kN, int kG>
__device__ __forceinline__ void softmax_exponentiate(const MathContext<kN, kG>& c, float* s, const float* ref,
                                                     float* row_sum) {
  constexpr int kLocalRows = kN / 4;
  T* p_tile = reinterpret_cast<T*>(__cvta_shared_to_generic(c.p_addr));
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    const int n = c.row_of(nl);
    float sum = 0.f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float v = fast_exp2(s[4 * (nl >> 1) + 2 * r + (nl & 1)] - ref[nl]);
      sum += v;
      // P^T, K-major: query row n holds the page's 64 tokens, 16-byte chunks swizzled by n % 8.
      const int token = c.token_of(r);
      p_tile[n * 64 + (((token >> 3) ^ (n & 7)) << 3) + (token & 7)] = to_element<T>(v);
    }
    row_sum[nl] += sum;
  }
  fence_proxy_async_smem();  // P^T and zeroed rows (generic stores) -> the tensor cores' reads
  named_barrier_sync(c.bar, kMathThreads);
}

// Starts loading a piece's kN query rows (zero rows past q_rows) into the Q slabs with cp.async;
// the whole warpgroup. wait_q completes it. The next piece's load starts in the epilogue of the
// one before, once no S reads Q any more (sum_row_sums), so that it overlaps the output stores.
template <typename T, int kN, int kG>
__device__ __forceinline__ void issue_q_load(const DecodeParams& p, const MathContext<kN, kG>& c,
                                             int seq, int kv_head, int row_base) {
  const T* q = static_cast<const T*>(p.q);
  constexpr int kChunks = kHeadDimK / 8;  // 16-byte chunks per row
  // Not unrolled: in the epilogue O is live, and unrolled copies spilled (ptxas -v).
#pragma unroll 1
  for (int idx = c.tid; idx < kN * kChunks; idx += kMathThreads) {
    const int row = idx / kChunks;
    const int chunk = idx % kChunks;
    const int q_row = row_base + row;
    const bool valid = q_row < p.q_rows;
    const int token = token_of_row(p, q_row);
    const int head = head_of_row(p, kv_head, q_row);
    const T* src = q + (valid ? seq * p.q_stride_batch + token * p.q_stride_token + head * p.q_stride_head +
                                    chunk * 8
                              : 0);
    cp_async_16(c.q_addr + (chunk >> 3) * Layout<kN, kG>::kQSlabBytes + row * 128 + (((chunk & 7) ^ (row & 7)) << 4),
                src, valid);
  }
  cp_async_commit();
}

// Waits for this thread's Q copies, then for the warpgroup's: Q is then ready for the tensor cores.
template <int kN, int kG>
__device__ __forceinline__ void wait_q(const MathContext<kN, kG>& c) {
  cp_async_wait<0>();
  fence_proxy_async_smem();  // cp.async writes -> wgmma reads
  named_barrier_sync(c.bar, kMathThreads);
}

// The warps of the warpgroup add up their shares of each query row's sum: total[nl] is the whole
// sum of P over the piece for row row_of(nl). On return every warp is past its waits for the
// piece's last MMA, so Q may be overwritten.
template <int kN, int kG>
__device__ __forceinline__ void sum_row_sums(const MathContext<kN, kG>& c, const float* row_sum,
                                             float* total) {
  constexpr int kLocalRows = kN / 4;
  // s_sum lies over P^T: every warp's wait for the last P V must be behind us (a warp's wait does
  // not cover the other warps' share of an MMA that reads all of P^T).
  named_barrier_sync(c.bar, kMathThreads);
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    float v = row_sum[nl];
    v += __shfl_xor_sync(0xffffffffu, v, 4);
    v += __shfl_xor_sync(0xffffffffu, v, 8);
    v += __shfl_xor_sync(0xffffffffu, v, 16);
    if (c.lane < 4) c.s_sum[c.warp * kN + c.row_of(nl)] = v;
  }
  named_barrier_sync(c.bar, kMathThreads);
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    total[nl] = 0.f;
#pragma unroll
    for (int w = 0; w < kMathWarps; ++w) total[nl] += c.s_sum[w * kN + c.row_of(nl)];
  }
  named_barrier_sync(c.bar, kMathThreads);  // the next piece rewrites s_sum
}

// Normalises and stores the piece's O^T: the final output and lse when the sequence is in one
// split, else a float32 partial result for the combine kernel. total: sum_row_sums.
template <typename T, int kN, int kG>
__device__ __forceinline__ void store_piece(const DecodeParams& p, const MathContext<kN, kG>& c,
                                            const seesaw::Piece& piece, int kv_head, int row_base,
                                            float (*o)[kN / 2], const float* total,
                                            const float* run_max) {
  constexpr int kLocalRows = kN / 4;
#pragma unroll
  for (int nl = 0; nl < kLocalRows; ++nl) {
    const int q_row = row_base + c.row_of(nl);
    if (q_row >= p.q_rows) continue;
    const float inv = total[nl] > 0.f ? 1.f / total[nl] : 0.f;
    const float lse = row_lse(run_max[nl], total[nl], piece.single_split);
    const int token = token_of_row(p, q_row);
    const int head = head_of_row(p, kv_head, q_row);
    const bool writes_lse = c.warp == 0 && c.lane < 4;
    if (piece.single_split) {
      T* out = static_cast<T*>(p.out) + out_row_offset(p, piece.seq, token, head);
#pragma unroll
      for (int v = 0; v < kValueSlabs; ++v) {
#pragma unroll
        for (int r = 0; r < 2; ++r)
          out[64 * v + c.token_of(r)] = to_element<T>(o[v][4 * (nl >> 1) + 2 * r + (nl & 1)] * inv);
      }
      if (writes_lse) p.lse[lse_offset(p, piece.seq, token, head)] = lse;
    } else {
      const int64_t slot_row = split_slot_row(p, piece.first_slot + piece.split, kv_head, q_row);
      float* acc = p.o_accum + slot_row * kHeadDimV;
#pragma unroll
      for (int v = 0; v < kValueSlabs; ++v) {
#pragma unroll
        for (int r = 0; r < 2; ++r) acc[64 * v + c.token_of(r)] = o[v][4 * (nl >> 1) + 2 * r + (nl & 1)] * inv;
      }
      if (writes_lse) p.lse_accum[slot_row] = lse;
    }
  }
}

template <typename T, int kN, int kG>
__device__ __forceinline__ void run_math(const DecodeParams& p, const seesaw::PartRange& range,
                                         const MathContext<kN, kG>& c, int kv_head, int row_base) {
  using L = Layout<kN, kG>;
  constexpr int kLocalRows = kN / 4;
  RingPos pos{0, 0};  // ring position of the current piece's first slab
  int64_t page_count = 0;  // pages so far: the parity picks the s_max buffer
  bool q_issued = false;   // the current piece's Q load was started by the epilogue before it
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    const seesaw::Piece piece = seesaw::piece_of(p, range, seq);
    const int n = piece.num_pages;
    // An empty piece (a sequence of length 0) still writes its output: zeros, lse +inf.
    if (n > 0) {
      if (!q_issued) issue_q_load<T, kN, kG>(p, c, seq, kv_head, row_base);
      wait_q(c);
    }

    int limit[kLocalRows];  // keys visible to each of this thread's query rows: [0, limit)
    float run_max[kLocalRows];
    float row_sum[kLocalRows];
#pragma unroll
    for (int nl = 0; nl < kLocalRows; ++nl) {
      const int q_row = row_base + c.row_of(nl);
      const int token = token_of_row(p, q_row);
      limit[nl] = q_row >= p.q_rows ? 0 : (p.causal ? piece.seqlen - p.s_q + token + 1 : piece.seqlen);
      run_max[nl] = -INFINITY;
      row_sum[nl] = 0.f;
    }
    float o[kValueSlabs][kN / 2];
#pragma unroll
    for (int v = 0; v < kValueSlabs; ++v) {
#pragma unroll
      for (int i = 0; i < kN / 2; ++i) o[v][i] = 0.f;
      wgmma_pin<kN / 2>(o[v]);  // defined here, before any wgmma is in flight
    }
    float s[kN / 2];

    if (n > 0) {
      RingPos page = pos;  // the current page's first slab
      issue_s<T, kN, kG>(c, s, page);
      for (int j = 0; j < n; ++j) {
        const RingPos next = page.advanced(kSlabs, L::kRingSlabs);
        wgmma_wait<0>();  // S of page j
        wgmma_pin<kN / 2>(s);
        release(c, page, 1);  // the RoPE slab: only S reads it
        const int valid = piece.seqlen - (piece.page_begin + j) * kPageSize;
        if (valid < kPageSize) zero_tail_rows(c, page, valid);
        float ref[kLocalRows];
        softmax_rescale<kN, kG>(c, s, o, run_max, row_sum, ref, limit, (piece.page_begin + j) * kPageSize,
                            static_cast<int>(page_count & 1), p.scale_log2);
        ++page_count;
        softmax_exponentiate<T, kN, kG>(c, s, ref, row_sum);
        issue_pv<T, kN, kG>(c, o, page);
        // Wait for P V before S of the next page, and free the value slabs at once: S of the next
        // page waits for its slabs to land, and holding these eight slots through that wait
        // halved the loads the producer could keep in flight (bench/NOTES.md step 20).
        wgmma_wait<0>();
#pragma unroll
        for (int v = 0; v < kValueSlabs; ++v) wgmma_pin<kN / 2>(o[v]);
        release(c, page.advanced(1, L::kRingSlabs), kValueSlabs);
        if (j + 1 < n) issue_s<T, kN, kG>(c, s, next);
        page = next;
      }
      pos = page;  // the next piece starts after this one's last page
    }
    float total[kLocalRows];
    sum_row_sums(c, row_sum, total);
    // No S reads Q any more: the next piece's Q load starts here and lands under the stores.
    q_issued = seq < range.end_seq && seesaw::piece_of(p, range, seq + 1).num_pages > 0;
    if (q_issued) issue_q_load<T, kN, kG>(p, c, seq + 1, kv_head, row_base);
    store_piece<T, kN, kG>(p, c, piece, kv_head, row_base, o, total, run_max);
  }
}

}  // namespace narrow

// Grid: (num_sm_parts, h_kv, ceil(q_rows / (kG * kN))); kG math warpgroups of kN rows each, then
// the producer warpgroup (one thread issues the loads).
template <typename T, int kN, int kG>
__global__ void __launch_bounds__(narrow::threads(kG), 1)
    mla_narrow_kernel(const DecodeParams p, const __grid_constant__ CUtensorMap k_map) {
  using namespace narrow;
  using L = Layout<kN, kG>;
  extern __shared__ __align__(1024) uint8_t smem[];
  const uint32_t base = smem_addr(smem);
  if (base % 1024 != 0) __trap();  // the swizzle atoms' addresses would be wrong

  const int tid = threadIdx.x;
  const int warp = uniform_warp_index();
  const int lane = tid % 32;
  const int group = warp / kMathWarps;  // kG: the producer warpgroup
  const int kv_head = blockIdx.y;
  const seesaw::PartRange range = seesaw::part_range(p, blockIdx.x);
  const uint32_t barriers = base + L::kOffBarriers;

  if (tid == 0) {
    for (int i = 0; i < L::kRingSlabs; ++i) {
      mbarrier_init(barriers + (L::kFullBarriers + i) * 8, 1);
      mbarrier_init(barriers + (L::kEmptyBarriers + i) * 8, kG * kMathWarps);
    }
    fence_mbarrier_init();
  }
  if (warp == kG * kMathWarps && lane == 0) prefetch_tensor_map(&k_map);
  __syncthreads();

  if (group == kG) {
    if constexpr (kG > 1) setmaxnreg_dec<kProducerRegisters>();
    if (warp == kG * kMathWarps && lane == 0)
      run_producer<kN, kG>(p, &k_map, range, kv_head, base + L::kOffRing, barriers);
    return;
  }
  if constexpr (kG > 1) setmaxnreg_inc<kMathRegisters>();
  const int g = kG == 1 ? 0 : group;  // a constant where there is one math warpgroup
  MathContext<kN, kG> c;
  c.warp = warp - g * kMathWarps;
  c.lane = lane;
  c.tid = tid - g * kMathThreads;
  c.bar = kBarMath + g;
  c.q_addr = base + L::off_q(g);
  c.p_addr = base + L::off_p(g);
  c.ring_addr = base + L::kOffRing;
  c.barriers = barriers;
  c.s_max = reinterpret_cast<float*>(smem + L::kOffMax) + g * 2 * kMathWarps * kN;
  c.s_sum = reinterpret_cast<float*>(smem + L::off_p(g));
  run_math<T, kN, kG>(p, range, c, kv_head, (blockIdx.z * kG + g) * kN);
}

}  // namespace sm90
}  // namespace flashmla
