// The seesaw decode kernel (64 query rows per block, warp-specialised, wgmma + TMA).
//
// Roles (seesaw_layout.cuh): a producer warpgroup (one thread issues the loads) brings K pages in
// slab by slab with TMA, into two buffers; two math warpgroups share the work of every page. Page g
// of the block's walk lives in buffer g % 2 and is *owned* by warpgroup g % 2, which computes
// S = Q K^T for the whole page (64 x 64, k = 576), runs the online softmax on it and publishes P
// (written over the page's RoPE slab, which only S reads), the new row maxima and the rescale
// factor. Each warpgroup holds half of O (256 value columns) and applies every page, its own and
// the other's, in page order: O = O * rescale + P V[:, half]; for its own pages it reads P from the
// registers the softmax left it in, for the other's from the published slab.
//
// The overlap: while the owner of page g runs its softmax, the other warpgroup's tensor-core work
// (its P V, its next S) runs; the softmax chain passes from one warpgroup to the other through the
// published maxima (the "seesaw" of DESIGN.md section 4); the order of each warpgroup's steps is
// the SeesawSchedule below. It is algebraically the ordinary online softmax, so results match the other
// kernels to rounding.
//
// Synchronisation: mbarriers full[buffer][slab] (TMA landed), empty[buffer][slab] (each of the 8
// math warps arrives once per page per slab, after its last read), stats[warpgroup] (a page's owner
// published P and its statistics; all its 128 threads arrive). Q is loaded at each sequence piece
// by the math threads with cp.async; in the kQTma instances (small batches, single blocks) by a
// producer thread with TMA instead, slab by slab on q_full[slab], once both math warpgroups are
// past the piece before's last S (q_empty). Those are separate instances so that the full-batch
// kernels keep their exact code: the runtime switch measured 1-2% slower on them (bench/NOTES.md
// step 44). For shapes with one row tile per kv head the producer also prefetches each page into
// L2 while it waits for the page's buffer (DecodeParams::l2_prefetch).
//
// Row-tile pairs (kCluster = 2): the blocks of two row tiles of the same kv head and SM part walk
// the same pages, so they run as one cluster; each producer loads every other slab of each page,
// multicast into both blocks (seesaw_producer.cuh), and each math warp releases a slab on the
// empty barriers of both. Everything else stays within the block. The code is written for any
// cluster size; only 1 and 2 are instantiated (four blocks measured no better than pairs).
// Cache slots past a sequence's length may hold anything, NaN included: S masks them with a select,
// and each warpgroup zeroes those rows of its value slabs before its P V reads them.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "sm90/cluster.cuh"
#include "sm90/decode_params.h"
#include "sm90/mbarrier.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_epilogue.cuh"
#include "sm90/seesaw_launch.h"
#include "sm90/seesaw_layout.cuh"
#include "sm90/seesaw_producer.cuh"
#include "sm90/seesaw_softmax.cuh"
#include "sm90/seesaw_trace.cuh"
#include "sm90/wgmma.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Per-thread view of the math warpgroups' shared state.
struct MathContext {
  int wg;       // 0 or 1: which pages it owns (g % 2 == wg) and which half of O it holds
  int row0;     // first of this thread's two accumulator rows (the other is row0 + 8)
  int lane;
  int wg_tid;   // thread index within the warpgroup
  uint32_t q_addr;
  uint32_t k_addr;    // buffer b at k_addr + b * kTileBytes
  uint32_t barriers;
  uint32_t rank;      // this block's rank in its cluster (kCluster > 1)

  __device__ uint32_t barrier(int index) const { return barriers + index * 8; }
  __device__ uint32_t full(int buffer, int slab) const { return barrier(kFullBarriers + buffer * kSlabs + slab); }
  __device__ uint32_t empty(int buffer, int slab) const { return barrier(kEmptyBarriers + buffer * kSlabs + slab); }
  __device__ uint32_t q_full(int slab) const { return barrier(kQFullBarriers + slab); }
  __device__ uint32_t buffer_addr(int buffer) const { return k_addr + buffer * kTileBytes; }
};

// One arrival of this warp on the empty barriers of `count` slabs of `buffer`, from slab_order
// position `first` on (after the warp's last read of them); with a group of blocks, on the other
// blocks' too, whose producers may load the next page's slabs into all of them.
template <int kCluster>
__device__ __forceinline__ void release_slabs(const MathContext& c, int buffer, int first, int count) {
  __syncwarp();
  if (c.lane == 0) {
    for (int i = first; i < first + count; ++i) {
      const uint32_t empty = c.empty(buffer, slab_order(buffer, i));
      mbarrier_arrive(empty);
#pragma unroll
      for (uint32_t r = 1; r < kCluster; ++r) {
        mbarrier_arrive_peer(peer_shared_addr(empty, (c.rank + r) % kCluster));
      }
    }
  }
}

// S = Q K^T for the page in buffer c.wg (the caller's own), slab by slab as the TMA loads land:
// the slabs at slab_order positions [kBegin, kEnd), committed as one wgmma group. S may be issued
// in two parts (kSFirstSlabs), with the other warpgroup's page applied in between. q_phase >= 0:
// the piece's first S of this warpgroup with Q loaded by TMA; each slab also waits for its Q slab
// (that phase of q_full).
template <typename T, int kBegin, int kEnd>
__device__ __forceinline__ void issue_s(const MathContext& c, float* s, int page_index, int q_phase = -1) {
  if constexpr (kBegin < kEnd) {
    const uint32_t parity = static_cast<uint32_t>(page_index >> 1) & 1;
    const uint32_t k_buf = c.buffer_addr(c.wg);
    if (kBegin == 0) SEESAW_TRACE_MATH(c, kTraceSIssue, page_index);
    wgmma_fence();
#pragma unroll
    for (int i = kBegin; i < kEnd; ++i) {
      const int slab = slab_order(c.wg, i);
      if (q_phase >= 0) mbarrier_wait(c.q_full(slab), static_cast<uint32_t>(q_phase) & 1);
      mbarrier_wait(c.full(c.wg, slab), parity);
      if (i == 0) SEESAW_TRACE_MATH(c, kTraceSFirstSlab, page_index);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {  // k = 16 per step: 32 bytes along the 128-byte rows
        const uint64_t desc_q = kmajor_sw128_desc(c.q_addr + slab * kSlabBytes + kk * 32);
        const uint64_t desc_k = kmajor_sw128_desc(k_buf + slab * kSlabBytes + kk * 32);
        wgmma_m64n64k16<T>(s, desc_q, desc_k, (i | kk) != 0 ? 1 : 0);
      }
    }
    wgmma_commit();
    wgmma_pin<32>(s);
    if (kEnd == kSlabs) SEESAW_TRACE_MATH(c, kTraceSIssued, page_index);
  }
}

// O[:, half c.wg] += P V for the other warpgroup's page in `buffer` (P in its RoPE slab, V = its
// value slabs).
template <typename T>
__device__ __forceinline__ void issue_pv(const MathContext& c, float* o, int buffer) {
  const uint32_t k_buf = c.buffer_addr(buffer);
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {  // the page's 64 tokens in 4 steps of 16
    const uint64_t desc_p = kmajor_sw128_desc(k_buf + kRopeSlab * kSlabBytes + kk * 32);
    const uint64_t desc_v =
        mnmajor_sw128_desc(k_buf + c.wg * kHalfSlabs * kSlabBytes + kk * 16 * 128, kSlabBytes);
    wgmma_m64n256k16_acc_tb<T>(o, desc_p, desc_v);
  }
  wgmma_commit();
  wgmma_pin<128>(o);
}

// O[:, half c.wg] += P V for the caller's own page, P from its registers (pack_p): its P slab is
// only for the other warpgroup, and this P V does not wait for the slab stores.
template <typename T>
__device__ __forceinline__ void issue_own_pv(const MathContext& c, float* o, uint32_t* p_frag) {
  const uint32_t k_buf = c.buffer_addr(c.wg);
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint64_t desc_v =
        mnmajor_sw128_desc(k_buf + c.wg * kHalfSlabs * kSlabBytes + kk * 16 * 128, kSlabBytes);
    wgmma_m64n256k16_rs_acc_tb<T>(o, p_frag + 4 * kk, desc_v);
  }
  wgmma_commit();
  wgmma_pin<128>(o);
}

// Zeroes rows [valid, 64) of this warpgroup's value slabs of `buffer`, so that P V never multiplies
// the (possibly NaN) cache slots past the sequence's length; the whole warpgroup calls it.
__device__ __forceinline__ void zero_tail_rows(const MathContext& c, int buffer, int valid) {
  const int chunks_per_slab = (kPageSize - valid) * 8;
  const uint32_t first_slab = c.buffer_addr(buffer) + c.wg * kHalfSlabs * kSlabBytes;
  for (int idx = c.wg_tid; idx < chunks_per_slab * kHalfSlabs; idx += 128) {
    const int slab = idx / chunks_per_slab;
    const int rem = idx % chunks_per_slab;
    const uint32_t addr = first_slab + slab * kSlabBytes + (valid + rem / 8) * 128 + (rem % 8) * 16;
    asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(addr), "r"(0) : "memory");
  }
  fence_proxy_async_smem();  // generic stores -> the tensor cores' reads
  named_barrier_sync(kBarWarpgroup + c.wg, 128);
}

__device__ __forceinline__ void rescale(float* o, float* row_sum, const float* factor) {
#pragma unroll
  for (int t = 0; t < 32; ++t) {
#pragma unroll
    for (int e = 0; e < 4; ++e) o[4 * t + e] *= factor[e >> 1];
  }
  row_sum[0] *= factor[0];
  row_sum[1] *= factor[1];
}

// Starts loading a piece's 64 query rows (zero rows past q_rows) into the Q slabs with cp.async;
// all math threads. wait_q completes it. The load of the next piece starts in the epilogue of the
// one before, once both warpgroups are past their last S (sum_row_sums): a Q load took ~5 us at the
// ridge (bench/NOTES.md step 38), during which the math warpgroups had nothing to do.
template <typename T>
__device__ __forceinline__ void issue_q_load(const DecodeParams& p, const MathContext& c, int seq,
                                             int kv_head, int row_base, int math_tid) {
  const T* q = static_cast<const T*>(p.q);
  constexpr int kChunks = kHeadDimK / 8;  // 16-byte chunks per row
  // Not unrolled: in the epilogue O is live, and unrolled copies spilled (ptxas -v).
#pragma unroll 1
  for (int idx = math_tid; idx < kRows * kChunks; idx += kMathThreads) {
    const int row = idx / kChunks;
    const int chunk = idx % kChunks;
    const int q_row = row_base + row;
    const bool valid = q_row < p.q_rows;
    const int token = token_of_row(p, q_row);
    const int head = head_of_row(p, kv_head, q_row);
    const T* src = q + (valid ? seq * p.q_stride_batch + token * p.q_stride_token +
                                    head * p.q_stride_head + chunk * 8
                              : 0);
    cp_async_16(c.q_addr + (chunk >> 3) * kSlabBytes + row * 128 + (((chunk & 7) ^ (row & 7)) << 4),
                src, valid);
  }
  cp_async_commit();
}

// Waits for this thread's Q copies, then for everyone's: Q is then ready for the tensor cores.
__device__ __forceinline__ void wait_q() {
  cp_async_wait<0>();
  fence_proxy_async_smem();  // cp.async writes -> wgmma reads
  named_barrier_sync(kBarMath, kMathThreads);
}

// The row statistics a page's owner published: its running maxima after the page, and the factor
// for everything accumulated before it.
struct PageStats {
  float max[2];
  float rescale[2];
};

// The order of a warpgroup's work around each of its own pages j (the other warpgroup runs the
// same order, one page later); bench/NOTES.md has the three timed, and resolve_schedule
// (seesaw_launch.h) picks the default.
// kOtherPageFirst: P V of the other's page j - 1 as soon as its statistics arrive,
//   which releases that page's buffer early; then the rest of S of page j, its softmax and P V;
//   then S of page j + 2 on its first kSFirstSlabs slabs only, so that waiting for that page's
//   load does not hold back applying (and releasing) the other's page j + 1.
// kOwnPageFirst (FLASHMLA_SEESAW_SCHEDULE=own-first): softmax and P V of page j, P V of the
//   other's page j + 1, then S of page j + 2.
// kSoftmaxFirst (FLASHMLA_SEESAW_SCHEDULE=softmax-first): softmax of page j, P V of the other's
//   page j - 1 and of page j, then S of page j + 2.
template <typename T, SeesawSchedule kSchedule, int kCluster, bool kQTma>
__device__ __forceinline__ void run_math(const DecodeParams& p, const PartRange& range,
                                         const MathContext& c, int kv_head, int row_base,
                                         float* s_stats, float* s_row_sum, uint8_t* smem) {
  const int math_tid = c.wg * 128 + c.wg_tid;
  float* my_stats = s_stats + c.wg * 2 * kRows;           // [max | rescale][64] of my pages
  const float* other_stats = s_stats + (1 - c.wg) * 2 * kRows;
  const uint32_t my_stats_bar = c.barrier(kStatsBarriers + c.wg);
  const uint32_t other_stats_bar = c.barrier(kStatsBarriers + 1 - c.wg);
  T* my_p_slab = reinterpret_cast<T*>(smem + kOffK + c.wg * kTileBytes + kRopeSlab * kSlabBytes);
  const int other = 1 - c.wg;

  int g = 0;  // pages of this block's walk before the current piece
  int q_pieces = 0;  // pieces with pages before the current one: the phase of q_full (kQTma)
  bool q_issued = false;  // the current piece's Q load was started by the epilogue before it
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    const Piece piece = piece_of(p, range, seq);
    const int n = piece.num_pages;
    if (n > 0) SEESAW_TRACE_MATH(c, kTracePieceBegin, g);
    if (n > 0 && !kQTma) {  // with TMA, the first S waits for each Q slab (issue_s)
      if (!q_issued) issue_q_load<T>(p, c, seq, kv_head, row_base, math_tid);
      wait_q();
      SEESAW_TRACE_MATH(c, kTraceQReady, g);
    }
    const int q_phase = kQTma ? q_pieces : -1;  // for this warpgroup's first S of the piece

    int limit[2];  // keys visible to each of this thread's rows: [0, limit)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int q_row = row_base + c.row0 + 8 * r;
      const int token = token_of_row(p, q_row);
      limit[r] = q_row >= p.q_rows ? 0 : (p.causal ? piece.seqlen - p.s_q + token + 1 : piece.seqlen);
    }
    auto valid_rows = [&](int j) { return piece.seqlen - (piece.page_begin + j) * kPageSize; };
    auto parity_of = [&](int j) { return static_cast<uint32_t>((g + j) >> 1) & 1; };

    float o[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;
    float row_sum[2] = {0.f, 0.f};
    float run_max[2] = {-INFINITY, -INFINITY};
    float s[32];
    uint32_t p_frag[16];  // P of my latest page, packed (pack_p)

    // Page j of the piece is the other warpgroup's: wait for what its owner published. (The owner
    // rewrites its statistics only after reading the other's next page, published after this read.)
    auto read_other_stats = [&](int j) {
      SEESAW_TRACE_MATH(c, kTraceStatsWait, g + j);
      mbarrier_wait(other_stats_bar, parity_of(j));
      SEESAW_TRACE_MATH(c, kTraceStatsReady, g + j);
      PageStats st;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        st.max[r] = other_stats[c.row0 + 8 * r];
        st.rescale[r] = other_stats[kRows + c.row0 + 8 * r];
      }
      return st;
    };
    // O (my half) and the row sums take the other's page j.
    auto apply_other_page = [&](int j, const PageStats& st) {
      release_slabs<kCluster>(c, other, 0, kHalfSlabs);  // its owner's value half: never read here
      for (int i = 0; i < kHalfSlabs; ++i) mbarrier_wait(c.full(other, c.wg * kHalfSlabs + i), parity_of(j));
      if (valid_rows(j) < kPageSize) zero_tail_rows(c, other, valid_rows(j));
      SEESAW_TRACE_MATH(c, kTraceOtherPvIssue, g + j);
      rescale(o, row_sum, st.rescale);
      run_max[0] = st.max[0];
      run_max[1] = st.max[1];
      issue_pv<T>(c, o, other);
      wgmma_wait<0>();
      wgmma_pin<128>(o);
      SEESAW_TRACE_MATH(c, kTraceOtherPvDone, g + j);
      release_slabs<kCluster>(c, other, kHalfSlabs, kHalfSlabs + 1);  // my value half and P
    };
    // Softmax of my page j (its S was issued before) from the maxima before it; publishes P and
    // the page's statistics for the other warpgroup.
    auto own_softmax = [&](int j, const float* prev_max) {
      SEESAW_TRACE_MATH(c, kTraceSWait, g + j);
      wgmma_wait<0>();  // S of this page
      wgmma_pin<32>(s);
      SEESAW_TRACE_MATH(c, kTraceSReady, g + j);
      release_slabs<kCluster>(c, c.wg, kHalfSlabs, kHalfSlabs);  // the other half's value slabs: S only
      const SoftmaxStep step = softmax_step(s, prev_max, (piece.page_begin + j) * kPageSize, limit,
                                            p.scale_log2, c.lane);
      pack_p<T>(s, p_frag);
      store_p<T>(my_p_slab, p_frag, c.row0, c.lane);
      if ((c.lane & 3) == 0) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          my_stats[c.row0 + 8 * r] = step.max[r];
          my_stats[kRows + c.row0 + 8 * r] = step.rescale[r];
        }
      }
      fence_proxy_async_smem();  // P stores -> the other warpgroup's wgmma reads
      // Every thread of the warpgroup arrives (kStatsArrivals): its own release orders its P and statistics
      // writes, and its reads of the other's statistics, before the other warpgroup's next step.
      mbarrier_arrive(my_stats_bar);
      SEESAW_TRACE_MATH(c, kTracePublished, g + j);
      release_slabs<kCluster>(c, c.wg, kRopeSlab, 1);  // S read it and P is written: mine is done
      return step;
    };
    // O (my half) and the row sums take my page j.
    auto apply_own_page = [&](int j, const SoftmaxStep& step) {
      if (valid_rows(j) < kPageSize) zero_tail_rows(c, c.wg, valid_rows(j));
      rescale(o, row_sum, step.rescale);
      row_sum[0] += step.row_sum[0];
      row_sum[1] += step.row_sum[1];
      run_max[0] = step.max[0];
      run_max[1] = step.max[1];
      SEESAW_TRACE_MATH(c, kTraceOwnPvIssue, g + j);
      issue_own_pv<T>(c, o, p_frag);
      wgmma_wait<0>();
      wgmma_pin<128>(o);
#pragma unroll
      for (int i = 0; i < 16; ++i) asm volatile("" : "+r"(p_frag[i])::"memory");  // read until here
      SEESAW_TRACE_MATH(c, kTraceOwnPvDone, g + j);
      // Own value half (positions 0..3 of slab_order). Before the next S: its page reuses this
      // buffer, so the producer needs these releases to load it.
      release_slabs<kCluster>(c, c.wg, 0, kHalfSlabs);
    };

    const int first_own = (c.wg - g) & 1;  // first j with (g + j) % 2 == wg
    // Only other-page-first issues S in two parts; the other orders issue it whole.
    constexpr int kFirstPart = kSchedule == SeesawSchedule::kOtherPageFirst ? kSFirstSlabs : kSlabs;
    if (first_own < n) issue_s<T, 0, kFirstPart>(c, s, g + first_own, q_phase);
    if constexpr (kSchedule == SeesawSchedule::kSoftmaxFirst) {
      for (int j = first_own; j < n; j += 2) {
        // Page j - 1 (the other's) gives this page's previous maxima; its P V follows my softmax.
        PageStats prev{{-INFINITY, -INFINITY}, {1.f, 1.f}};
        if (j >= 1) prev = read_other_stats(j - 1);
        const SoftmaxStep step = own_softmax(j, prev.max);
        if (j >= 1) apply_other_page(j - 1, prev);
        apply_own_page(j, step);
        if (j + 2 < n) issue_s<T, 0, kSlabs>(c, s, g + j + 2);
      }
      // The piece's last page, when it is the other warpgroup's, has not been applied yet.
      if (n > 0 && ((g + n - 1) & 1) != c.wg) apply_other_page(n - 1, read_other_stats(n - 1));
    } else if constexpr (kSchedule == SeesawSchedule::kOtherPageFirst) {
      for (int j = first_own; j < n; j += 2) {
        // Page j - 1 (the other's) first: its P V releases that page's buffer early, and its
        // statistics give this page's previous maxima. S of page j is already on its way.
        PageStats prev{{-INFINITY, -INFINITY}, {1.f, 1.f}};
        if (j >= 1) {
          prev = read_other_stats(j - 1);
          apply_other_page(j - 1, prev);
        }
        issue_s<T, kSFirstSlabs, kSlabs>(c, s, g + j, j == first_own ? q_phase : -1);  // the rest of S
        const SoftmaxStep step = own_softmax(j, prev.max);
        apply_own_page(j, step);
        if (j + 2 < n) issue_s<T, 0, kSFirstSlabs>(c, s, g + j + 2);
      }
      if (n > 0 && ((g + n - 1) & 1) != c.wg) apply_other_page(n - 1, read_other_stats(n - 1));
    } else {
      PageStats prev{{-INFINITY, -INFINITY}, {1.f, 1.f}};
      if (first_own == 1 && n > 0) {  // the piece starts with the other's page
        prev = read_other_stats(0);
        apply_other_page(0, prev);
      }
      for (int j = first_own; j < n; j += 2) {
        const SoftmaxStep step = own_softmax(j, prev.max);
        apply_own_page(j, step);
        if (j + 1 < n) {
          prev = read_other_stats(j + 1);
          apply_other_page(j + 1, prev);
        }
        if (j + 2 < n) issue_s<T, 0, kSlabs>(c, s, g + j + 2);
      }
    }

    SEESAW_TRACE_MATH(c, kTraceEpilogue, g + n);
    float total[2];
    sum_row_sums(row_sum, s_row_sum, c.wg, c.row0, c.lane, total);
    // No S reads Q any more: the next piece's Q load starts here and lands under the stores.
    if constexpr (kQTma) {
      if (n > 0 && math_tid == 0) mbarrier_arrive(c.barrier(kQEmptyBarrier));
      q_pieces += n > 0;
    } else {
      q_issued = seq < range.end_seq && piece_of(p, range, seq + 1).num_pages > 0;
      if (q_issued) issue_q_load<T>(p, c, seq + 1, kv_head, row_base, math_tid);
    }
    store_piece<T>(p, piece, kv_head, row_base, o, total, run_max, c.wg, c.row0, c.lane);
    SEESAW_TRACE_MATH(c, kTraceEpilogueDone, g + n);
    g += n;
  }
}

}  // namespace seesaw

// Grid: (SM parts, h_kv, ceil(q_rows / 64)); seesaw::kThreads threads; seesaw::kSmemBytes. With
// kCluster > 1, clusters of (1, 1, kCluster) blocks: the grid's z must be a multiple of it.
template <typename T, SeesawSchedule kSchedule, int kCluster, bool kQTma>
__global__ void __launch_bounds__(seesaw::kThreads, 1)
    mla_seesaw_kernel(const DecodeParams p, const __grid_constant__ CUtensorMap k_map,
                      const __grid_constant__ CUtensorMap q_map) {
  using namespace seesaw;
  extern __shared__ __align__(1024) uint8_t smem[];
  const uint32_t base = smem_addr(smem);
  if (base % 1024 != 0) __trap();  // the swizzle atoms' addresses would be wrong

  const int tid = threadIdx.x;
  const int warp = uniform_warp_index();
  const int lane = tid % 32;
  const int kv_head = blockIdx.y;
  const int row_base = blockIdx.z * kRows;
  const PartRange range = part_range(p, blockIdx.x);
  const uint32_t barriers = base + kOffBarriers;

  if (tid == 0) {
    SEESAW_TRACE_RESET();
    for (int i = 0; i < kBuffers * kSlabs; ++i) {
      mbarrier_init(barriers + (kFullBarriers + i) * 8, 1);
      mbarrier_init(barriers + (kEmptyBarriers + i) * 8, kMathThreads / 32 * kCluster);
    }
    for (int w = 0; w < kMathWarpgroups; ++w) mbarrier_init(barriers + (kStatsBarriers + w) * 8, kStatsArrivals);
    if constexpr (kQTma) {
      for (int i = 0; i < kSlabs; ++i) mbarrier_init(barriers + (kQFullBarriers + i) * 8, 1);
      mbarrier_init(barriers + kQEmptyBarrier * 8, 1);
    }
    fence_mbarrier_init();
  }
  if (warp == kProducerWarp && lane == 0) prefetch_tensor_map(&k_map);
  if (kQTma && warp == kProducerWarp + 1 && lane == 0) prefetch_tensor_map(&q_map);
  __syncthreads();  // the last block-wide barrier: the producer warpgroup leaves below
  // The other blocks' barriers must be initialised before their first arrival here or load.
  if constexpr (kCluster > 1) cluster_sync();
  const int rank = kCluster > 1 ? static_cast<int>(cluster_rank()) : 0;

  if (warp >= kProducerWarp) {
    setmaxnreg_dec<kProducerRegisters>();
    if (warp == kProducerWarp && lane == 0)
      run_producer<kCluster>(p, &k_map, range, kv_head, base + kOffK, barriers, rank);
    if (kQTma && warp == kProducerWarp + 1 && lane == 0)
      run_q_producer(p, &q_map, range, kv_head, row_base, base + kOffQ, barriers);
    if constexpr (kCluster > 1) {
      __syncwarp();
      cluster_sync();  // neither block may exit while the other can still arrive on its barriers
    }
    return;
  }
  setmaxnreg_inc<kMathRegisters>();
  MathContext c;
  c.wg = warp / 4;
  c.row0 = (warp % 4) * 16 + lane / 4;
  c.lane = lane;
  c.wg_tid = tid % 128;
  c.q_addr = base + kOffQ;
  c.k_addr = base + kOffK;
  c.barriers = barriers;
  c.rank = static_cast<uint32_t>(rank);
  run_math<T, kSchedule, kCluster, kQTma>(p, range, c, kv_head, row_base, reinterpret_cast<float*>(smem + kOffStats),
                                   reinterpret_cast<float*>(smem + kOffRowSum), smem);
  if constexpr (kCluster > 1) cluster_sync();
}

}  // namespace sm90
}  // namespace flashmla
