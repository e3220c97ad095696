// The narrow kernel's producer (narrow_kernel.cuh): one thread walks the block's pages in the
// order the math warpgroups consume them, across sequence pieces, and loads each page's nine
// slabs with TMA into consecutive ring slots, each as soon as every math warp has released its
// slot's previous slab.
#pragma once

#include "sm90/mbarrier.cuh"
#include "sm90/narrow_layout.cuh"
#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"

namespace flashmla {
namespace sm90 {
namespace narrow {

template <int kN, int kG>
__device__ __forceinline__ void run_producer(const DecodeParams& p, const CUtensorMap* k_map,
                                             const seesaw::PartRange& range, int kv_head, uint32_t ring,
                                             uint32_t barriers) {
  using L = Layout<kN, kG>;
  const uint64_t evict_first = make_evict_first_policy();  // every page is read once
  RingPos pos{0, 0};
  int64_t loaded = 0;  // slabs loaded so far: from kRingSlabs on, every slot was used before
  for (int seq = range.begin_seq; seq <= range.end_seq; ++seq) {
    const seesaw::Piece piece = seesaw::piece_of(p, range, seq);
    const int32_t* pages = p.block_table + static_cast<int64_t>(seq) * p.block_table_stride;
    for (int j = 0; j < piece.num_pages; ++j) {
      const int page_id = pages[piece.page_begin + j];
      for (int i = 0; i < kSlabs; ++i, ++loaded) {
        // The slot's previous slab (one lap earlier, parity phase ^ 1) must have been released.
        if (loaded >= L::kRingSlabs)
          mbarrier_wait(barriers + (L::kEmptyBarriers + pos.slot) * 8, pos.phase ^ 1u);
        const uint32_t full = barriers + (L::kFullBarriers + pos.slot) * 8;
        mbarrier_arrive_expect_tx(full, kSlabBytes);
        // Tensor map dimensions, innermost first: (576 columns, h_kv heads, 64 tokens, pages).
        tma_load_4d(ring + pos.slot * kSlabBytes, k_map, full, slab_of_position(i) * 64, kv_head, 0,
                    page_id, evict_first);
        pos = pos.advanced(1, L::kRingSlabs);
      }
    }
  }
}

}  // namespace narrow
}  // namespace sm90
}  // namespace flashmla
