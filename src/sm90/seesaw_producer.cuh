// The seesaw kernel's producer: one thread walks the block's pages in the order the math
// warpgroups consume them and loads each 64x64 slab with TMA as soon as the page that held its
// buffer slot before has released it, running ahead across sequence boundaries; optionally it
// prefetches each page into L2 while it waits for the slot.
//
// With kCluster = 2 the blocks of a cluster (row tiles of the same kv head and SM part,
// seesaw_kernel.cuh) walk the same pages: each producer loads every kCluster-th slab of a page,
// multicast into all of them, so each page leaves L2 once per cluster instead of once per block.
// A slab is overwritten only when every block has released it: the math warps of every block
// arrive on the empty barriers of all, so each producer waits on its own.
#pragma once

#include "sm90/cluster.cuh"
#include "sm90/mbarrier.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"
#include "sm90/seesaw_trace.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Whether the producer of cluster rank `rank` loads the slab at position i of slab_order.
template <int kCluster>
__device__ __forceinline__ bool loads_slab(int rank, int i) {
  return i % kCluster == rank;
}

template <int kCluster>
__device__ __forceinline__ void prefetch_page_l2(const CUtensorMap* k_map, int kv_head, int page_id, int rank) {
#pragma unroll
  for (int slab = 0; slab < kSlabs; ++slab) {
    if (loads_slab<kCluster>(rank, slab)) tma_prefetch_l2_4d(k_map, slab * 64, kv_head, 0, page_id);
  }
}

template <int kCluster>
__device__ __forceinline__ void run_producer(const DecodeParams& p, const CUtensorMap* k_map,
                                             const PartRange& range, int kv_head, uint32_t k_base,
                                             uint32_t barriers, int rank) {
  static_assert(kCluster == 1 || kCluster == 2, "one block or a pair per page");
  const uint64_t evict_first = make_evict_first_policy();  // every page is read once
  int64_t g = 0;  // pages loaded so far by this block: page g goes to buffer g % 2
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    const Piece piece = piece_of(p, range, seq);
    const int32_t* pages = p.block_table + static_cast<int64_t>(seq) * p.block_table_stride;
    for (int j = 0; j < piece.num_pages; ++j, ++g) {
      SEESAW_TRACE_PRODUCER(kTraceLoadBegin, static_cast<int>(g));
      const int buffer = static_cast<int>(g & 1);
      const uint32_t use = static_cast<uint32_t>(g >> 1);  // how many pages this buffer held before
      const int page_id = pages[piece.page_begin + j];
      // The page must wait for the one two before it to leave the buffer: meanwhile it can travel
      // from DRAM to L2, so that its loads then take only the L2's latency.
      if (p.l2_prefetch && use > 0) prefetch_page_l2<kCluster>(k_map, kv_head, page_id, rank);
      for (int i = 0; i < kSlabs; ++i) {
        const int slab = slab_order(buffer, i);
        const int index = buffer * kSlabs + slab;
        // In a cluster, the other blocks' math warps arrive here too. A wait with acquire at cluster
        // scope on every poll measured 3x slower (bench/NOTES.md); the other blocks' reads are done
        // before its arrival (wgmma.wait_group), which the load is ordered after.
        if (use > 0) mbarrier_wait(barriers + (kEmptyBarriers + index) * 8, (use - 1) & 1);
        if (i == 0) SEESAW_TRACE_PRODUCER(kTraceBufferFree, static_cast<int>(g));
        const uint32_t full = barriers + (kFullBarriers + index) * 8;
        mbarrier_arrive_expect_tx(full, kSlabBytes);
        // The slab's bytes, from whichever producer loads it, complete this block's full barrier.
        // Tensor map dimensions, innermost first: (576 columns, h_kv heads, 64 tokens, pages).
        const uint32_t dst = k_base + buffer * kTileBytes + slab * kSlabBytes;
        if constexpr (kCluster == 1) {
          tma_load_4d(dst, k_map, full, slab * 64, kv_head, 0, page_id, evict_first);
        } else if (loads_slab<kCluster>(rank, i)) {
          tma_load_4d_multicast(dst, k_map, full, slab * 64, kv_head, 0, page_id, (1u << kCluster) - 1,
                                evict_first);
        }
      }
      SEESAW_TRACE_PRODUCER(kTraceLoadIssued, static_cast<int>(g));
    }
  }
}

// In the kQTma instances (seesaw_kernel.cuh): one thread loads each piece's 64 query rows with
// TMA, nine slabs (one box each, q_map: tensor_map.h) on a barrier each, so that a piece's first S
// can start on its first slab. The next piece's Q waits for both math warpgroups to be past the
// piece's last S (q_empty); the pages' producer runs on meanwhile. Pieces without pages need no Q.
__device__ __forceinline__ void run_q_producer(const DecodeParams& p, const CUtensorMap* q_map,
                                               const PartRange& range, int kv_head, int row_base,
                                               uint32_t q_base, uint32_t barriers) {
  const uint64_t policy = make_evict_normal_policy();  // the sequence's other splits read it too
  const int token = row_base / p.ngroups;  // q_map's boxes start at a token (tensor_map.h)
  const int head = kv_head * p.ngroups + row_base % p.ngroups;
  int pieces = 0;  // pieces with pages so far
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    if (piece_of(p, range, seq).num_pages == 0) continue;
    if (pieces > 0) mbarrier_wait(barriers + kQEmptyBarrier * 8, (pieces - 1) & 1);
    for (int i = 0; i < kSlabs; ++i) {
      const int slab = slab_order(0, i);  // the order the first page's S reads them
      const uint32_t full = barriers + (kQFullBarriers + slab) * 8;
      mbarrier_arrive_expect_tx(full, kSlabBytes);
      tma_load_4d(q_base + slab * kSlabBytes, q_map, full, slab * 64, head, token, seq, policy);
    }
    ++pieces;
  }
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
