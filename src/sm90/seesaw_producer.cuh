// The seesaw kernel's producer: one thread walks the block's pages in the order the math
// warpgroups consume them and loads each 64x64 slab with TMA as soon as the page that held its
// buffer slot before has released it, running ahead across sequence boundaries; optionally it
// prefetches each page into L2 while it waits for the slot.
#pragma once

#include "sm90/mbarrier.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"
#include "sm90/seesaw_trace.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

__device__ __forceinline__ void prefetch_page_l2(const CUtensorMap* k_map, int kv_head, int page_id) {
#pragma unroll
  for (int slab = 0; slab < kSlabs; ++slab) tma_prefetch_l2_4d(k_map, slab * 64, kv_head, 0, page_id);
}

__device__ __forceinline__ void run_producer(const DecodeParams& p, const CUtensorMap* k_map,
                                             const PartRange& range, int kv_head, uint32_t k_base,
                                             uint32_t barriers) {
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
      if (p.l2_prefetch && use > 0) prefetch_page_l2(k_map, kv_head, page_id);
      for (int i = 0; i < kSlabs; ++i) {
        const int slab = slab_order(buffer, i);
        const int index = buffer * kSlabs + slab;
        if (use > 0) mbarrier_wait(barriers + (kEmptyBarriers + index) * 8, (use - 1) & 1);
        if (i == 0) SEESAW_TRACE_PRODUCER(kTraceBufferFree, static_cast<int>(g));
        const uint32_t full = barriers + (kFullBarriers + index) * 8;
        mbarrier_arrive_expect_tx(full, kSlabBytes);
        // Tensor map dimensions, innermost first: (576 columns, h_kv heads, 64 tokens, pages).
        tma_load_4d(k_base + buffer * kTileBytes + slab * kSlabBytes, k_map, full, slab * 64, kv_head,
                    0, page_id, evict_first);
      }
      SEESAW_TRACE_PRODUCER(kTraceLoadIssued, static_cast<int>(g));
    }
  }
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
