// The seesaw kernel's producer: one thread walks the block's pages in the order the math
// warpgroups consume them and loads each 64x64 slab with TMA as soon as the page that held its
// buffer slot before has released it, running ahead across sequence boundaries.
#pragma once

#include "sm90/mbarrier.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

__device__ __forceinline__ void run_producer(const DecodeParams& p, const CUtensorMap* k_map,
                                             const PartRange& range, int kv_head, uint32_t k_base,
                                             uint32_t barriers) {
  const uint64_t evict_first = make_evict_first_policy();  // every page is read once
  int64_t g = 0;  // pages loaded so far by this block: page g goes to buffer g % 2
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    const Piece piece = piece_of(p, range, seq);
    const int32_t* pages = p.block_table + static_cast<int64_t>(seq) * p.block_table_stride;
    for (int j = 0; j < piece.num_pages; ++j, ++g) {
      const int buffer = static_cast<int>(g & 1);
      const uint32_t use = static_cast<uint32_t>(g >> 1);  // how many pages this buffer held before
      const int page_id = pages[piece.page_begin + j];
      for (int i = 0; i < kSlabs; ++i) {
        const int slab = slab_order(buffer, i);
        const int index = buffer * kSlabs + slab;
        if (use > 0) mbarrier_wait(barriers + (kEmptyBarriers + index) * 8, (use - 1) & 1);
        const uint32_t full = barriers + (kFullBarriers + index) * 8;
        mbarrier_arrive_expect_tx(full, kSlabBytes);
        // Tensor map dimensions, innermost first: (576 columns, h_kv heads, 64 tokens, pages).
        tma_load_4d(k_base + buffer * kTileBytes + slab * kSlabBytes, k_map, full, slab * 64, kv_head,
                    0, page_id, evict_first);
      }
    }
  }
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
